//! Given/when/then scenarios for every command of every aggregate: each acceptance, each
//! rejection and each idempotent no-op.

// Test code: a failed unwrap is a failed test, with the value in its message.
#![allow(clippy::unwrap_used)]

mod customer;
mod fixtures;
mod inventory;
mod order;
mod payment;
