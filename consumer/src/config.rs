//! [`ConsumerConfig`]: the settings of a consumer of the event topics, turned into
//! librdkafka properties on top of `causeway_infra::kafka::client_config` in one place.
//!
//! Offsets are never committed automatically: every consumer commits (or stores) them itself
//! once what it read is handled.

use causeway_domain::EventStream;
use causeway_infra::error::error_chain;
use causeway_infra::kafka::{client_config, ensure_topics, event_topic_specs};
use causeway_infra::settings::KafkaSettings;
use causeway_infra::topics::Topics;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;

/// How a consumer is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The consumer group (`group.id`).
    pub group: String,
    /// Only committed transactions are read (`isolation.level=read_committed`).
    pub read_committed: bool,
    /// librdkafka stores no offsets itself (`enable.auto.offset.store=false`): the consumer
    /// keeps them elsewhere (projections, in Postgres with their rows).
    pub offsets_kept_elsewhere: bool,
    /// A partition without a committed offset is read from its beginning
    /// (`auto.offset.reset=earliest`).
    pub from_earliest: bool,
    /// A long-running member of its group: a short session (10 s, heartbeats every second)
    /// so a killed member's partitions move within seconds, and topics created after it
    /// subscribed are noticed within 2 s.
    pub live_member: bool,
    /// Eager rebalancing (`partition.assignment.strategy=range`): every assignment follows a
    /// full revocation.
    pub eager_rebalance: bool,
    /// Whether reaching the end of a partition is reported (`enable.partition.eof`), when
    /// set.
    pub partition_eof: Option<bool>,
    /// The most librdkafka prefetches into the consumer's queue, in kilobytes
    /// (`queued.max.messages.kbytes`), when capped.
    pub prefetch_kbytes: Option<u32>,
}

impl ConsumerConfig {
    /// A long-running group member: `read_committed`, from the earliest offset when none is
    /// committed, short session, new topics noticed quickly, prefetch capped at 8 MiB (the
    /// default 64 MiB, times the nine consumers of `causeway serve`, let a backlog take
    /// hundreds of megabytes).
    pub fn member(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            read_committed: true,
            offsets_kept_elsewhere: false,
            from_earliest: true,
            live_member: true,
            eager_rebalance: false,
            partition_eof: None,
            prefetch_kbytes: Some(8192),
        }
    }

    /// A reader that assigns its partitions itself and reads them to their end
    /// (`read_committed`, end-of-partition reported, prefetch capped like a member's); it
    /// never commits to `group`.
    pub fn reader(group: impl Into<String>) -> Self {
        Self {
            live_member: false,
            offsets_kept_elsewhere: true,
            partition_eof: Some(true),
            ..Self::member(group)
        }
    }

    /// The librdkafka properties: the cluster's (`kafka`), then this consumer's.
    pub fn client_config(&self, kafka: &KafkaSettings) -> ClientConfig {
        let mut config = client_config(kafka);
        config.set("group.id", &self.group);
        if self.read_committed {
            config.set("isolation.level", "read_committed");
        }
        config.set("enable.auto.commit", "false");
        if self.offsets_kept_elsewhere {
            config.set("enable.auto.offset.store", "false");
        }
        if let Some(eof) = self.partition_eof {
            config.set("enable.partition.eof", eof.to_string());
        }
        if let Some(kbytes) = self.prefetch_kbytes {
            config.set("queued.max.messages.kbytes", kbytes.to_string());
        }
        if self.from_earliest {
            config.set("auto.offset.reset", "earliest");
        }
        if self.eager_rebalance {
            config.set("partition.assignment.strategy", "range");
        }
        if self.live_member {
            // A member killed without leaving its group holds its partitions until its
            // session expires: keep that short, so a restarted one resumes within seconds.
            config
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "1000")
                // Notice topics the relay creates after this consumer subscribed.
                .set("topic.metadata.refresh.interval.ms", "2000");
        }
        config
    }

    /// Creates a consumer of kind `T` (`BaseConsumer`, `StreamConsumer`) with the default
    /// context.
    pub fn create<T>(&self, kafka: &KafkaSettings) -> KafkaResult<T>
    where
        T: rdkafka::config::FromClientConfig,
    {
        self.client_config(kafka).create()
    }

    /// Creates a consumer of kind `T` with its own `context` (rebalance callbacks).
    pub fn create_with_context<C, T>(&self, kafka: &KafkaSettings, context: C) -> KafkaResult<T>
    where
        C: ConsumerContext,
        T: rdkafka::config::FromClientConfigAndContext<C>,
    {
        self.client_config(kafka).create_with_context(context)
    }
}

/// Subscribes `consumer` to the event topics of `streams`, under `kafka`'s topic prefix,
/// creating first those that do not exist yet (with their dead-letter topics). Otherwise a
/// consumer that starts before the relay has created them would find them only at its next
/// metadata refresh, and the first events would wait seconds for it. Topics it cannot create
/// are left to the relay (a warning says so).
pub async fn subscribe<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    kafka: &KafkaSettings,
    streams: &[EventStream],
) -> KafkaResult<()> {
    let bases = streams.iter().map(|s| s.base_topic());
    if let Err(error) = ensure_topics(kafka, &event_topic_specs(kafka, bases)).await {
        tracing::warn!(error = %error_chain(&error), "event topics not created ahead; the relay creates them");
    }
    let topics = Topics::new(kafka);
    let names: Vec<String> = streams
        .iter()
        .map(|s| topics.events(s.base_topic()))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    consumer.subscribe(&names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka() -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: "localhost:9092".into(),
            topic_prefix: String::new(),
            event_partitions: 1,
            replication_factor: 1,
            security: Default::default(),
            properties: Default::default(),
        }
    }

    #[test]
    fn a_member_reads_committed_from_the_earliest_offset_and_hands_over_quickly() {
        let config = ConsumerConfig::member("t1.saga.order").client_config(&kafka());
        assert_eq!(config.get("group.id"), Some("t1.saga.order"));
        assert_eq!(config.get("isolation.level"), Some("read_committed"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(config.get("session.timeout.ms"), Some("10000"));
        assert_eq!(config.get("enable.auto.offset.store"), None);
        assert_eq!(config.get("partition.assignment.strategy"), None);
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("8192"));
    }

    #[test]
    fn a_reader_caps_its_prefetch_and_reports_partition_ends() {
        let config = ConsumerConfig::reader("g.rebuild").client_config(&kafka());
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("8192"));
        assert_eq!(config.get("enable.partition.eof"), Some("true"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("session.timeout.ms"), None);
    }
}
