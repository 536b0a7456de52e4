//! Process-level HTTP routes, mounted whatever the roles.
//!
//! - [`health`]: `/health/live` and `/health/ready`.
//! - [`metrics`]: `/metrics`, and the layer that counts and times every request.
//! - [`openapi`]: `/openapi.json`, the OpenAPI document of the whole HTTP API.
//! - [`server`]: the listener loop (header-read timeout, connection cap, peer addresses,
//!   graceful drain).

pub mod health;
pub mod metrics;
pub mod openapi;
pub mod server;
