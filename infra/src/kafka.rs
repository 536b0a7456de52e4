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

use crate::InfraError;

use crate::settings::KafkaSettings;

/// Base client configuration shared by producers, consumers and admin clients.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.bootstrap_servers);
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

/// Creates every topic of `topics` that does not exist yet, with the configured replication
/// factor; existing topics are left untouched.
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
    Ok(())
}
