//! Process-level HTTP routes.

pub mod health;
