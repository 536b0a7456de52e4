//! Readiness of the dependencies every role needs: Postgres, Kafka and the schema registry,
//! and each background role's own account of itself ([`roles`]).
//!
//! Each check runs with its own deadline, all at once, so a dead dependency costs one timeout,
//! not the sum of them.

pub mod roles;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer};
use serde::Serialize;
use sqlx::PgPool;

use crate::InfraError;
use crate::error::error_chain;
use crate::kafka::client_config;
use crate::settings::Settings;
use roles::RoleStatus;

/// The outcome of one dependency check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// `postgres`, `kafka` or `registry`.
    pub name: &'static str,
    /// Whether it answered in time.
    pub up: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// All checks of one readiness probe.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// One entry per dependency, in a fixed order.
    pub checks: Vec<Check>,
    /// What this process's background roles report, by name.
    pub roles: Vec<RoleStatus>,
}

impl Readiness {
    /// True when every dependency answered and every role is ready.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|c| c.up) && self.roles.iter().all(|r| r.ready)
    }

    /// Names of the roles that are not ready.
    pub fn roles_down(&self) -> Vec<&str> {
        self.roles
            .iter()
            .filter(|r| !r.ready)
            .map(|r| r.role.as_str())
            .collect()
    }

    /// Names of the dependencies that did not answer.
    pub fn down(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| !c.up)
            .map(|c| c.name)
            .collect()
    }
}

/// Long-lived clients used by the checks (a client per probe would cost a connection each time).
#[derive(Clone)]
pub struct HealthChecker {
    pool: PgPool,
    kafka: Arc<BaseProducer>,
    http: reqwest::Client,
    registry_url: String,
    timeout: Duration,
    scope: String,
}

impl HealthChecker {
    /// Builds the checker; connects to nothing yet.
    pub fn new(settings: &Settings, pool: PgPool) -> Result<Self, InfraError> {
        let kafka = client_config(&settings.kafka)
            .set("client.id", "causeway-health")
            .create()?;
        let timeout = settings.health.check_timeout();
        let http = crate::registry::http_client(&settings.registry, timeout)
            .map_err(|e| InfraError::Registry(e.to_string()))?;
        Ok(Self {
            pool,
            kafka: Arc::new(kafka),
            http,
            registry_url: settings.registry.url.trim_end_matches('/').to_owned(),
            timeout,
            scope: settings.kafka.topic_prefix.clone(),
        })
    }

    /// Runs every check concurrently.
    pub async fn check(&self) -> Readiness {
        let (postgres, kafka, registry) =
            tokio::join!(self.postgres(), self.kafka(), self.registry());
        Readiness {
            checks: vec![postgres, kafka, registry],
            roles: roles::of_scope(&self.scope),
        }
    }

    async fn postgres(&self) -> Check {
        let query = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
        let result = match tokio::time::timeout(self.timeout, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(error_chain(&e)),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        check("postgres", result)
    }

    async fn kafka(&self) -> Check {
        let producer = Arc::clone(&self.kafka);
        let timeout = self.timeout;
        // librdkafka's metadata call blocks its thread until the broker answers or time runs out.
        let result = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await;
        let result = match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(error_chain(&e)),
            Err(e) => Err(error_chain(&e)),
        };
        check("kafka", result)
    }

    async fn registry(&self) -> Check {
        let url = format!("{}/subjects", self.registry_url);
        let result = match self.http.get(url).send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("answered {}", resp.status())),
            Err(e) => Err(error_chain(&e)),
        };
        check("registry", result)
    }
}

fn check(name: &'static str, result: Result<(), String>) -> Check {
    match result {
        Ok(()) => Check {
            name,
            up: true,
            error: None,
        },
        Err(error) => Check {
            name,
            up: false,
            error: Some(error),
        },
    }
}
