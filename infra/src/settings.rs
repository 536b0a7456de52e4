//! The typed settings tree.
//!
//! Sources, later ones winning: the defaults compiled in from `config/default.toml`, an
//! optional file (`--config` or `CAUSEWAY_CONFIG`), then environment variables named
//! `CAUSEWAY_<SECTION>__<KEY>` (for example `CAUSEWAY_DATABASE__PORT=5433`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::InfraError;

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Every setting of every role.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where this runs: `local` (the local stack; a database password may be absent) or
    /// `production` (every credential required). `CAUSEWAY_PROFILE`.
    #[serde(default)]
    pub profile: Profile,
    /// The HTTP server (command and query API, health, metrics).
    pub http: HttpSettings,
    /// The Postgres event store and read models.
    pub database: DatabaseSettings,
    /// The Kafka cluster.
    pub kafka: KafkaSettings,
    /// The Confluent-compatible schema registry.
    pub registry: RegistrySettings,
    /// The event store's own knobs.
    pub event_store: EventStoreSettings,
    /// The relay from the event store to Kafka.
    pub relay: RelaySettings,
    /// The saga participants and order deadlines.
    pub sagas: SagaSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Readiness checks.
    pub health: HealthSettings,
    /// The query API.
    pub read_api: ReadApiSettings,
    /// When the command API refuses new orders.
    pub admission: AdmissionSettings,
    /// Who may call the HTTP API: the OpenID Connect issuer whose tokens it accepts.
    pub auth: AuthSettings,
    /// How many requests a caller may make.
    pub rate_limit: RateLimitSettings,
}

/// Where the platform runs, which decides what may be left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A developer's machine and the local stack.
    #[default]
    Local,
    /// Anywhere else: a missing database password is a start-up error.
    Production,
}

/// Request quotas of the HTTP API (`/api/*`): per verified subject, and per peer address for
/// requests that fail authentication. 0 switches a quota off.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Requests per minute of one subject (a token's `sub`), in bursts of up to as many.
    pub per_subject_per_minute: u32,
    /// A larger (or smaller) quota for subjects holding a role, by role name; a subject with
    /// several such roles gets the largest.
    #[serde(default)]
    pub per_role_per_minute: BTreeMap<String, u32>,
    /// Requests per minute from one peer address that fail authentication (401); past it the
    /// address is answered 429 without its token being looked at.
    pub unauthenticated_per_minute: u32,
}

/// Authentication of HTTP callers: bearer JWT access tokens of one OpenID Connect issuer,
/// verified against its published keys, and the claim their roles are read from
/// (`causeway-auth`, docs/security.md).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// The issuer, exactly as tokens carry it in `iss` (e.g. `http://127.0.0.1:4444/`).
    pub issuer: String,
    /// Where the issuer's keys are; empty: discovered from
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: String,
    /// The audience a token must name in `aud`.
    pub audience: String,
    /// The claim holding the caller's roles: a list of strings or one space-separated string
    /// (`scp`, `scope`, `roles`, or a namespaced custom claim).
    pub roles_claim: String,
    /// Stripped from each value of the roles claim before it names a role (e.g. `causeway:`);
    /// values without it are ignored.
    #[serde(default)]
    pub role_prefix: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// The keys are fetched again after this long.
    pub refresh_secs: u64,
    /// A token signed with an unknown key makes the keys be fetched again, at most this often.
    pub unknown_key_refresh_secs: u64,
    /// Timeout of each request to the issuer.
    pub timeout_ms: u64,
}

/// Admission control: the command API refuses new orders (503 with `Retry-After`) while the
/// saga participants are further behind than a bound, instead of accepting orders that
/// would expire in their queue.
#[derive(Debug, Clone, Deserialize)]
pub struct AdmissionSettings {
    /// Most messages the saga participants' groups may have left to handle, summed, before
    /// new orders are refused; 0 admits every order.
    pub max_saga_backlog: u64,
    /// How often the backlog is measured.
    pub measure_every_ms: u64,
}

/// The query API's knobs.
#[derive(Debug, Clone, Deserialize)]
pub struct ReadApiSettings {
    /// Longest a query with `min_version` waits for its read model (then 503).
    pub consistency_wait_ms: u64,
    /// How often a waiting query reads again.
    pub consistency_poll_ms: u64,
    /// The Jaeger UI's base URL: when set, saga timeline steps link to their traces.
    #[serde(default)]
    pub jaeger_ui_url: Option<String>,
}

/// Where and how the HTTP server listens.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Address to bind, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// A request running longer than this is answered 408.
    pub request_timeout_ms: u64,
    /// A connection that has not sent a request's complete headers this long after it opened
    /// (or after its previous request) is closed.
    pub header_read_timeout_ms: u64,
    /// Most open connections; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Most requests handled at once; one more is answered 503 at once (`overloaded`, with
    /// `Retry-After`) instead of queueing.
    pub max_in_flight: usize,
    /// Origins a browser may call the API from (CORS), e.g. `https://shop.example`; none by
    /// default, so browsers refuse cross-origin calls.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// The management listener: `/metrics` and the detailed `/health/ready`, kept off the
    /// public port. Its own port (0 picks a free one); the same host as `host` unless
    /// `management_host` says otherwise.
    pub management_port: u16,
    /// Address of the management listener, e.g. `0.0.0.0` for a Prometheus in the cluster.
    #[serde(default)]
    pub management_host: Option<String>,
}

/// How to reach Postgres.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login role.
    pub username: String,
    /// Its password; never printed. None is compiled in: the local stack's comes from the
    /// scripts' environment (`CAUSEWAY_DATABASE__PASSWORD`), and outside the `local`
    /// profile a missing one stops start-up.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Database to use.
    pub database_name: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection.
    pub acquire_timeout_ms: u64,
    /// Whether connections use TLS, as libpq's `sslmode`. `prefer` (the default) uses it when
    /// the server offers it; a remote database wants `verify-full` with `ssl_root_cert`.
    #[serde(default)]
    pub ssl_mode: SslMode,
    /// The CA certificate (PEM file) that `verify-ca` and `verify-full` check the server
    /// against; the system's roots when absent.
    #[serde(default)]
    pub ssl_root_cert: Option<String>,
}

/// TLS to Postgres, as libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never.
    Disable,
    /// Only if the server insists.
    Allow,
    /// When the server offers it.
    #[default]
    Prefer,
    /// Always, without checking the server's certificate.
    Require,
    /// Always, checking the certificate's CA.
    VerifyCa,
    /// Always, checking the CA and that the certificate names the host.
    VerifyFull,
}

impl From<SslMode> for PgSslMode {
    fn from(mode: SslMode) -> Self {
        match mode {
            SslMode::Disable => Self::Disable,
            SslMode::Allow => Self::Allow,
            SslMode::Prefer => Self::Prefer,
            SslMode::Require => Self::Require,
            SslMode::VerifyCa => Self::VerifyCa,
            SslMode::VerifyFull => Self::VerifyFull,
        }
    }
}

/// How to reach Kafka.
#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Prepended verbatim to every topic name (see `topics`); empty by default.
    #[serde(default)]
    pub topic_prefix: String,
    /// Partitions of each events and dead-letter topic the relay creates.
    pub event_partitions: i32,
    /// Replication factor of the topics the platform creates.
    pub replication_factor: i32,
    /// How clients authenticate to the brokers and encrypt the connection.
    #[serde(default)]
    pub security: KafkaSecurity,
    /// Extra librdkafka properties passed through unchanged; credentials are refused here
    /// (they belong in `security`, which never prints them).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// TLS and SASL to Kafka, e.g. for a managed cluster: `protocol = "sasl_ssl"`,
/// `sasl_mechanism = "PLAIN"` (or `SCRAM-SHA-512`), the API key and secret as username and
/// password.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KafkaSecurity {
    /// librdkafka's `security.protocol`: `plaintext` (default), `ssl`, `sasl_plaintext` or
    /// `sasl_ssl`.
    #[serde(default)]
    pub protocol: KafkaProtocol,
    /// `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// `sasl.password`; never printed.
    #[serde(default)]
    pub sasl_password: Option<SecretString>,
    /// `ssl.ca.location`: the CA (PEM file) brokers are checked against; the system's roots
    /// when absent.
    #[serde(default)]
    pub ssl_ca_location: Option<String>,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaProtocol {
    /// No TLS, no SASL (the local stack).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS (managed clusters).
    SaslSsl,
}

impl KafkaProtocol {
    /// The value librdkafka takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether SASL credentials are used.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// librdkafka properties that carry credentials: refused in `kafka.properties`.
const SECRET_KAFKA_PROPERTIES: [&str; 6] = [
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
];

/// How to reach the schema registry.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrySettings {
    /// Base URL of the Confluent-compatible API.
    pub url: String,
    /// Basic-auth user (a managed registry's API key), when it needs one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password (the API secret); never printed.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

/// Event store behaviour.
#[derive(Debug, Clone, Deserialize)]
pub struct EventStoreSettings {
    /// A snapshot is written every this many events of an aggregate.
    pub snapshot_every: u64,
}

/// The choreographed sagas: which participants a `sagas` role runs, how they retry, and
/// when an unfinished order expires.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaSettings {
    /// Participants run by the `sagas` role: any of `inventory`, `payment`, `order`.
    pub participants: Vec<String>,
    /// Most messages a participant takes in one batch (partitions run concurrently).
    pub batch_size: usize,
    /// Attempts of one reaction (a command) before its message goes to the DLQ.
    pub reaction_attempts: u32,
    /// Pause before the second attempt; doubled each time, capped at `reaction_backoff_max_ms`.
    pub reaction_backoff_ms: u64,
    /// Longest pause between attempts.
    pub reaction_backoff_max_ms: u64,
    /// An order still unfinished this long after it was placed expires.
    pub order_timeout_ms: u64,
    /// How often the deadline watcher looks for orders past their deadline.
    pub deadline_poll_ms: u64,
}

/// The relay: how it batches, where it keeps its checkpoint, how it elects one leader.
#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// How the relay delivers to Kafka: `idempotent` (the default) or `transactional`
    /// (ADR 0018).
    #[serde(default)]
    pub delivery: RelayDelivery,
    /// Most events published in one Kafka transaction.
    pub batch_size: u32,
    /// Events read from the store and encoded at once (a page); a transaction takes pages
    /// until it holds `batch_size` events.
    pub page_size: u32,
    /// A transaction stops waiting for more pages once it is this old, and commits.
    pub transaction_max_ms: u64,
    /// Pause between polls when nothing is waiting.
    pub poll_interval_ms: u64,
    /// Kafka `transactional.id`: the same for every relay instance, so a new leader fences
    /// a zombie.
    pub transactional_id: String,
    /// Compacted topic holding the relay's checkpoint, written in each transaction.
    pub checkpoint_topic: String,
    /// Postgres advisory lock key that elects the one active relay.
    pub lock_key: i64,
    /// How often a standby tries to take the lock.
    pub standby_retry_ms: u64,
    /// How the relay compresses record batches (`compression.type`).
    #[serde(default)]
    pub compression: Compression,
}

/// A Kafka record batch compression codec. Every consumer decompresses every batch it
/// reads, so the codec costs CPU once per consumer group; `lz4` (the default) is the
/// cheapest to decompress, `zstd` the smallest on the wire (ADR 0021).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4.
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// How the relay delivers events to Kafka (ADR 0018).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayDelivery {
    /// An idempotent producer (`acks=all`, gapless): each event is in Kafka once per relay
    /// session and in per-aggregate order; a relay crash republishes the events after the
    /// last checkpoint, so a plain consumer can see that suffix twice. Every Causeway
    /// consumer makes its effect once by (aggregate, sequence). One broker round trip per
    /// hop.
    #[default]
    Idempotent,
    /// A Kafka transaction per batch, with the checkpoint: `read_committed` consumers see
    /// every event exactly once, at the cost of a transaction commit (~100 ms here) per hop.
    Transactional,
}

impl RelayDelivery {
    /// Its name in the settings: `idempotent` or `transactional`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idempotent => "idempotent",
            Self::Transactional => "transactional",
        }
    }
}

/// Logging and tracing.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `service.name` of exported spans.
    pub service_name: String,
    /// OTLP/gRPC endpoint; empty exports no traces.
    pub otlp_endpoint: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Default `EnvFilter` directives (`RUST_LOG` wins).
    pub log_filter: String,
    /// A consumed event recorded longer ago than this is a replay (offsets reset, a consumer
    /// far behind): its spans link to the event's trace instead of joining it.
    pub replay_age_ms: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Multi-line, coloured: for a terminal.
    Pretty,
    /// One JSON object per line: for containers and log shippers.
    Json,
}

/// Readiness check tuning.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthSettings {
    /// Each dependency answers within this or counts as down.
    pub check_timeout_ms: u64,
}

impl Settings {
    /// Reads the defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, InfraError> {
        Self::load_from(file, Environment::with_prefix("CAUSEWAY"))
    }

    /// Like [`Settings::load`] with the environment source given (tests pass their own).
    pub fn load_from(file: Option<&Path>, env: Environment) -> Result<Self, InfraError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path));
        }
        let env = env.prefix_separator("_").separator("__").try_parsing(true);
        let settings: Self = builder.add_source(env).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// What the types cannot say: credentials present where required, and none in the
    /// free-form Kafka properties.
    fn validate(&self) -> Result<(), InfraError> {
        if self.profile != Profile::Local && self.database.password.is_none() {
            return Err(InfraError::InvalidSetting {
                key: "database.password",
                reason: "required outside the local profile (set CAUSEWAY_DATABASE__PASSWORD)"
                    .to_owned(),
            });
        }
        if let Some(key) = self
            .kafka
            .properties
            .keys()
            .find(|key| SECRET_KAFKA_PROPERTIES.contains(&key.as_str()))
        {
            return Err(InfraError::InvalidSetting {
                key: "kafka.properties",
                reason: format!("`{key}` is a credential: use kafka.security instead"),
            });
        }
        let security = &self.kafka.security;
        if security.protocol.uses_sasl()
            && (security.sasl_username.is_none() || security.sasl_password.is_none())
        {
            return Err(InfraError::InvalidSetting {
                key: "kafka.security",
                reason: format!(
                    "protocol {} needs sasl_username and sasl_password",
                    security.protocol.as_str()
                ),
            });
        }
        Ok(())
    }
}

impl DatabaseSettings {
    /// Connection options for the configured database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.server_options().database(&self.database_name)
    }

    /// Connection options for the server, without choosing a database.
    pub fn server_options(&self) -> PgConnectOptions {
        let options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .application_name("causeway")
            .ssl_mode(self.ssl_mode.into());
        let options = match &self.password {
            Some(password) => options.password(password.expose_secret()),
            None => options,
        };
        match &self.ssl_root_cert {
            Some(path) => options.ssl_root_cert(path),
            None => options,
        }
    }

    /// How long a caller waits for a pooled connection.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

impl HealthSettings {
    /// The per-check deadline.
    pub fn check_timeout(&self) -> Duration {
        Duration::from_millis(self.check_timeout_ms)
    }
}

impl RegistrySettings {
    /// The per-request deadline.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::with_prefix("CAUSEWAY").source(Some(map))
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(settings.http.port, 8080);
        assert_eq!(settings.database.port, 5432);
        assert_eq!(settings.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(
            settings.registry.url,
            "http://127.0.0.1:8081/apis/ccompat/v7"
        );
        assert_eq!(settings.event_store.snapshot_every, 100);
        assert_eq!(settings.telemetry.log_format, LogFormat::Pretty);
        assert_eq!(settings.read_api.consistency_wait_ms, 5_000);
        assert_eq!(
            settings.read_api.jaeger_ui_url.as_deref(),
            Some("http://127.0.0.1:16686")
        );
    }

    #[test]
    fn environment_variables_override_nested_keys() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CAUSEWAY_DATABASE__PORT", "6543"),
                ("CAUSEWAY_TELEMETRY__LOG_FORMAT", "json"),
                ("CAUSEWAY_EVENT_STORE__SNAPSHOT_EVERY", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database.port, 6543);
        assert_eq!(settings.telemetry.log_format, LogFormat::Json);
        assert_eq!(settings.event_store.snapshot_every, 7);
    }

    #[test]
    fn postgres_tls_is_preferred_by_default_and_set_like_libpq_sslmode() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(settings.database.ssl_mode, SslMode::Prefer);
        let settings = Settings::load_from(
            None,
            env(&[
                ("CAUSEWAY_DATABASE__SSL_MODE", "verify-full"),
                (
                    "CAUSEWAY_DATABASE__SSL_ROOT_CERT",
                    "/etc/causeway/db-ca.crt",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database.ssl_mode, SslMode::VerifyFull);
        let options = format!("{:?}", settings.database.connect_options());
        assert!(options.contains("VerifyFull"), "{options}");
        assert!(options.contains("db-ca.crt"), "{options}");
        let err = Settings::load_from(None, env(&[("CAUSEWAY_DATABASE__SSL_MODE", "always")]))
            .unwrap_err();
        assert!(format!("{err:?}").contains("ssl_mode"), "{err:?}");
    }

    #[test]
    fn secrets_never_print() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("CAUSEWAY_DATABASE__PASSWORD", "db-secret"),
                ("CAUSEWAY_KAFKA__SECURITY__PROTOCOL", "sasl_ssl"),
                ("CAUSEWAY_KAFKA__SECURITY__SASL_MECHANISM", "PLAIN"),
                ("CAUSEWAY_KAFKA__SECURITY__SASL_USERNAME", "key"),
                ("CAUSEWAY_KAFKA__SECURITY__SASL_PASSWORD", "kafka-secret"),
                ("CAUSEWAY_REGISTRY__USERNAME", "sr-key"),
                ("CAUSEWAY_REGISTRY__PASSWORD", "sr-secret"),
            ]),
        )
        .unwrap();
        let printed = format!("{settings:?}");
        for secret in ["db-secret", "kafka-secret", "sr-secret"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("REDACTED"), "{printed}");
        assert_eq!(settings.kafka.security.protocol, KafkaProtocol::SaslSsl);
    }

    #[test]
    fn no_database_password_is_compiled_in_and_production_requires_one() {
        let local = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(local.profile, Profile::Local);
        assert!(local.database.password.is_none());
        let err =
            Settings::load_from(None, env(&[("CAUSEWAY_PROFILE", "production")])).unwrap_err();
        assert!(format!("{err}").contains("database.password"), "{err}");
        let production = Settings::load_from(
            None,
            env(&[
                ("CAUSEWAY_PROFILE", "production"),
                ("CAUSEWAY_DATABASE__PASSWORD", "from-a-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(production.profile, Profile::Production);
    }

    #[test]
    fn kafka_credentials_are_refused_in_the_free_form_properties_and_sasl_needs_them() {
        let mut settings = Settings::load_from(None, env(&[])).unwrap();
        settings
            .kafka
            .properties
            .insert("sasl.password".to_owned(), "oops".to_owned());
        let err = settings.validate().unwrap_err();
        assert!(format!("{err}").contains("kafka.security"), "{err}");
        assert!(!format!("{err}").contains("oops"), "{err}");
        let err = Settings::load_from(
            None,
            env(&[("CAUSEWAY_KAFKA__SECURITY__PROTOCOL", "sasl_ssl")]),
        )
        .unwrap_err();
        assert!(format!("{err}").contains("sasl_username"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_clear_error() {
        let err = Settings::load_from(None, env(&[("CAUSEWAY_HTTP__PORT", "eighty")])).unwrap_err();
        assert!(format!("{:?}", err).contains("port"), "{err:?}");
    }
}
