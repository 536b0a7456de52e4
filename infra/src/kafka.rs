//! Kafka client configuration: one place that turns settings into librdkafka properties;
//! topic creation; [`headers`], the typed headers of an event record; and [`backlog`], how
//! far some consumer groups are behind.

pub mod backlog;
pub mod headers;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use secrecy::ExposeSecret;

use crate::InfraError;

use crate::settings::KafkaSettings;

/// Base client configuration shared by producers, consumers and admin clients.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.bootstrap_servers);
    let security = &settings.security;
    config.set("security.protocol", security.protocol.as_str());
    if let Some(mechanism) = &security.sasl_mechanism {
        config.set("sasl.mechanism", mechanism);
    }
    if let Some(username) = &security.sasl_username {
        config.set("sasl.username", username);
    }
    if let Some(password) = &security.sasl_password {
        config.set("sasl.password", password.expose_secret());
    }
    if let Some(ca) = &security.ssl_ca_location {
        config.set("ssl.ca.location", ca);
    }
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// The value of the header `name` of `message` as text (invalid UTF-8 replaced), or `None`
/// when the message has no such header.
pub fn header(message: &impl rdkafka::Message, name: &str) -> Option<String> {
    use rdkafka::message::Headers as _;
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A topic the platform needs, created at start-up when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic's name.
    pub name: String,
    /// Its partition count (an existing topic is left as it is).
    pub partitions: i32,
    /// Whether the log is compacted (checkpoints) rather than deleted by age.
    pub compacted: bool,
}

/// The events topic and the dead-letter topic of each base name in `bases` (e.g.
/// `orders.events`), under the configured prefix, with `kafka.event_partitions` partitions.
pub fn event_topic_specs<'b>(
    settings: &KafkaSettings,
    bases: impl IntoIterator<Item = &'b str>,
) -> Vec<TopicSpec> {
    let topics = crate::topics::Topics::new(settings);
    bases
        .into_iter()
        .flat_map(|base| [topics.events(base), topics.dlq(base)])
        .map(|name| TopicSpec {
            name,
            partitions: settings.event_partitions,
            compacted: false,
        })
        .collect()
}

/// Creates every topic of `topics` that does not exist yet, with the configured replication
/// factor, and waits (up to [`LEADERS_WAIT`]) until each of them has a leader for every
/// partition: a client that asks for metadata sooner would not see a new topic, and a
/// consumer subscribed then would add it only at a later metadata refresh. That holds for a
/// topic another client has just created too (answered `TopicAlreadyExists` here). Existing
/// topics are left untouched.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    topics: &[TopicSpec],
) -> Result<(), InfraError> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            let replication = TopicReplication::Fixed(settings.replication_factor);
            let topic = NewTopic::new(&t.name, t.partitions, replication);
            if t.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code).into()),
        }
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    // Only a panic of the waiting thread fails the join; the topics exist either way.
    let _ = tokio::task::spawn_blocking(move || wait_for_leaders(&admin, &names)).await;
    Ok(())
}

/// How long [`ensure_topics`] waits for the partitions of its topics to get leaders; past
/// it, the topics are still usable once they do.
pub const LEADERS_WAIT: Duration = Duration::from_secs(5);

/// Polls the cluster's metadata until every partition of `topics` has a leader, or
/// [`LEADERS_WAIT`] has passed.
fn wait_for_leaders(admin: &AdminClient<DefaultClientContext>, topics: &[String]) {
    let until = std::time::Instant::now() + LEADERS_WAIT;
    while std::time::Instant::now() < until {
        if let Ok(metadata) = admin.inner().fetch_metadata(None, Duration::from_secs(1)) {
            let led = |name: &String| {
                metadata.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && !t.partitions().is_empty()
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            };
            if topics.iter().all(led) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::debug!(?topics, "created topics still without leaders");
}
