//! The backlog of some consumer groups: the messages of their topics they have not yet
//! committed (high watermark − committed offset, summed over every partition), measured from
//! outside the groups. Admission control reads it (docs/adr/0018-idempotent-relay.md): it
//! says how far behind a pipeline is before its work starts expiring.
//!
//! Each group gets a client of its own that never joins (it only asks for the group's
//! committed offsets); the high watermarks are asked once per partition per measurement.
//! Every call blocks: run [`Backlog::measure`] on a blocking thread.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use super::client_config;
use crate::settings::KafkaSettings;

const TIMEOUT: Duration = Duration::from_secs(2);

/// A consumer group and the topics it consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTopics {
    /// The `group.id`.
    pub group: String,
    /// Its topics.
    pub topics: Vec<String>,
}

/// One measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    /// Messages not yet committed by their group, over every group and partition.
    pub backlog: u64,
    /// The sum of the groups' committed offsets: its growth is the groups' drain rate.
    pub committed: u64,
}

/// Measures the backlog of some groups.
pub struct Backlog {
    groups: Vec<(BaseConsumer, Vec<String>)>,
}

impl Backlog {
    /// A probe of `groups` on the cluster of `kafka`.
    pub fn new(kafka: &KafkaSettings, groups: &[GroupTopics]) -> KafkaResult<Self> {
        let groups = groups
            .iter()
            .map(|g| {
                let consumer: BaseConsumer = client_config(kafka)
                    .set("group.id", &g.group)
                    .set("enable.auto.commit", "false")
                    .set("isolation.level", "read_committed")
                    .create()?;
                Ok((consumer, g.topics.clone()))
            })
            .collect::<KafkaResult<_>>()?;
        Ok(Self { groups })
    }

    /// Measures now (blocking). A topic that does not exist yet counts as empty.
    pub fn measure(&self) -> KafkaResult<Measured> {
        let mut measured = Measured::default();
        let mut high_of: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
        for (consumer, topics) in &self.groups {
            let partitions = partitions(consumer, topics)?;
            if partitions.count() == 0 {
                continue;
            }
            let committed = consumer.committed_offsets(partitions, TIMEOUT)?;
            for element in committed.elements() {
                let key = (element.topic().to_owned(), element.partition());
                let (low, high) = match high_of.get(&key) {
                    Some(&marks) => marks,
                    None => {
                        let marks = consumer.fetch_watermarks(&key.0, key.1, TIMEOUT)?;
                        high_of.insert(key, marks);
                        marks
                    }
                };
                let done = match element.offset() {
                    Offset::Offset(offset) => offset,
                    // Nothing committed yet: the group starts from the earliest message.
                    _ => low,
                };
                measured.backlog += u64::try_from(high - done).unwrap_or(0);
                measured.committed += u64::try_from(done).unwrap_or(0);
            }
        }
        Ok(measured)
    }
}

/// Every partition of `topics` (none for a topic not created yet).
fn partitions(consumer: &BaseConsumer, topics: &[String]) -> KafkaResult<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        for found in metadata.topics() {
            if found.error().is_some() {
                continue;
            }
            for partition in found.partitions() {
                list.add_partition(found.name(), partition.id());
            }
        }
    }
    Ok(list)
}
