//! Process-level HTTP routes.
//!
//! - [`health`]: `/health/live` and `/health/ready`.
//! - [`openapi`]: `/openapi.json`, the OpenAPI document of the whole HTTP API.

pub mod health;
pub mod openapi;
