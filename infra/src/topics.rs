//! Kafka topic names: `<prefix><base>` for an events topic and `<prefix><base>.dlq` for its
//! dead-letter topic (docs/architecture.md §1, §6).
//!
//! Generic: the base names (`orders.events`, …) belong to whoever publishes the events (the
//! shop's are `causeway_domain::EventStream::base_topic`); [`Topics`] only applies the
//! configured prefix (`kafka.topic_prefix`, empty by default; tests use a unique prefix).

use crate::settings::KafkaSettings;

/// The configured topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// The topic names under `settings.topic_prefix`.
    pub fn new(settings: &KafkaSettings) -> Self {
        Self::with_prefix(settings.topic_prefix.clone())
    }

    /// The topic names under `prefix`, prepended verbatim (`"staging."` gives
    /// `staging.orders.events`).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix prepended to every name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The events topic of the base name `base`, e.g. `orders.events` → `t1.orders.events`.
    pub fn events(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    /// The dead-letter topic of the base name `base`, e.g. `orders.events` →
    /// `t1.orders.events.dlq`.
    pub fn dlq(&self, base: &str) -> String {
        dlq_of(&self.events(base))
    }

    /// The base name of a topic under this prefix, e.g. `t1.orders.events` →
    /// `orders.events`; `None` for a topic outside the prefix.
    pub fn base_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic.strip_prefix(self.prefix.as_str())
    }
}

/// The dead-letter topic of any topic: `<topic>.dlq`.
pub fn dlq_of(topic: &str) -> String {
    format!("{topic}.dlq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_prefix_the_topic_is_its_base_name() {
        assert_eq!(Topics::default().events("orders.events"), "orders.events");
    }

    #[test]
    fn the_dead_letter_topic_is_the_events_topic_with_a_dlq_suffix() {
        let topics = Topics::with_prefix("t1.");
        assert_eq!(topics.dlq("orders.events"), "t1.orders.events.dlq");
        assert_eq!(dlq_of("t1.payments.events"), "t1.payments.events.dlq");
    }

    #[test]
    fn the_prefix_is_prepended_to_every_topic_and_stripped_back() {
        let topics = Topics::with_prefix("staging.");
        let topic = topics.events("inventory.events");
        assert_eq!(topic, "staging.inventory.events");
        assert_eq!(topics.base_of(&topic), Some("inventory.events"));
        assert_eq!(topics.base_of("other.inventory.events"), None);
    }
}
