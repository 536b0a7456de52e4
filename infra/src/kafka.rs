//! Kafka client configuration: one place that turns settings into librdkafka properties.

use rdkafka::ClientConfig;

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
