//! Reading a projection's topics from offset 0 for a rebuild: a consumer with a manual
//! assignment (it never joins nor commits to the live consumer group), `read_committed`,
//! reporting where each partition ends.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::ProjectionError;
use crate::offsets::TopicPartition;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// A partition that stays silent this long while reading to the end counts as at its end.
const IDLE: Duration = Duration::from_secs(2);
/// Reading up to given offsets gives up after this long without a message.
const STALLED: Duration = Duration::from_secs(60);

/// How far a read goes.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// To the end of every partition, as it is now.
    End,
    /// To these next offsets (exclusive); messages at or past them are not taken.
    Offsets(HashMap<TopicPartition, i64>),
}

/// The rebuild's consumer and where it stands.
pub(crate) struct KafkaSource {
    consumer: StreamConsumer,
    partitions: Vec<TopicPartition>,
    /// The next offset to take, per partition: the last taken + 1.
    pub(crate) next: HashMap<TopicPartition, i64>,
    at_end: HashSet<TopicPartition>,
    overshot: bool,
}

/// Whether every partition has reached its goal offset.
pub(crate) fn reached(
    next: &HashMap<TopicPartition, i64>,
    goal: &HashMap<TopicPartition, i64>,
) -> bool {
    goal.iter()
        .all(|(tp, target)| next.get(tp).copied().unwrap_or(0) >= *target)
}

/// Per partition, the further of two positions.
pub(crate) fn furthest(
    a: &HashMap<TopicPartition, i64>,
    b: &HashMap<TopicPartition, i64>,
) -> HashMap<TopicPartition, i64> {
    let mut out = a.clone();
    for (tp, offset) in b {
        let entry = out.entry(tp.clone()).or_insert(*offset);
        *entry = (*entry).max(*offset);
    }
    out
}

impl KafkaSource {
    /// A consumer assigned to every partition of `topics`, at the beginning.
    pub(crate) async fn open(
        settings: &Settings,
        group: &str,
        topics: Vec<String>,
    ) -> Result<Self, ProjectionError> {
        let consumer: StreamConsumer = client_config(&settings.kafka)
            .set("group.id", format!("{group}.rebuild"))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .create()?;
        let consumer = tokio::task::spawn_blocking(move || -> Result<_, KafkaError> {
            let mut partitions = Vec::new();
            for topic in &topics {
                let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
                for found in metadata.topics().iter().filter(|t| t.error().is_none()) {
                    for partition in found.partitions() {
                        partitions.push((topic.clone(), partition.id()));
                    }
                }
            }
            Ok((consumer, partitions))
        })
        .await
        .map_err(|_| ProjectionError::SeekFailed)?;
        let (consumer, partitions) = consumer?;
        let source = Self {
            consumer,
            partitions,
            next: HashMap::new(),
            at_end: HashSet::new(),
            overshot: false,
        };
        source.assign()?;
        Ok(source)
    }

    /// (Re)assigns every partition at its next offset (the beginning when none was taken).
    fn assign(&self) -> Result<(), KafkaError> {
        let mut assignment = TopicPartitionList::new();
        for tp in &self.partitions {
            let offset = self
                .next
                .get(tp)
                .map_or(Offset::Beginning, |next| Offset::Offset(*next));
            assignment.add_partition_offset(&tp.0, tp.1, offset)?;
        }
        self.consumer.assign(&assignment)
    }

    /// Messages in the partitions now: the sum of high minus low watermarks (transaction
    /// markers included), for the progress bar.
    pub(crate) async fn estimate(&self) -> u64 {
        let mut total = 0;
        for (topic, partition) in &self.partitions {
            if let Ok((low, high)) =
                self.consumer
                    .fetch_watermarks(topic, *partition, METADATA_TIMEOUT)
            {
                total += u64::try_from(high - low).unwrap_or(0);
            }
        }
        total
    }

    /// Up to `limit` messages toward `goal`, and whether the goal is reached.
    pub(crate) async fn read(
        &mut self,
        limit: usize,
        goal: &Goal,
    ) -> Result<(Vec<OwnedMessage>, bool), ProjectionError> {
        let mut taken = Vec::new();
        loop {
            if self.done(goal) {
                return Ok((taken, true));
            }
            if taken.len() >= limit {
                return Ok((taken, false));
            }
            let wait = if matches!(goal, Goal::End) {
                IDLE
            } else {
                STALLED
            };
            let received = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) if matches!(goal, Goal::End) => return Ok((taken, true)),
                Err(_) => {
                    return Err(ProjectionError::Registry(
                        "kafka stalled below the live offsets".into(),
                    ));
                }
                Ok(received) => received,
            };
            match received {
                Ok(message) => {
                    let tp = (message.topic().to_owned(), message.partition());
                    if let Goal::Offsets(targets) = goal
                        && message.offset() >= targets.get(&tp).copied().unwrap_or(0)
                    {
                        self.overshot = true;
                        continue;
                    }
                    self.at_end.remove(&tp);
                    self.next.insert(tp, message.offset() + 1);
                    taken.push(message.detach());
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    for tp in self.partitions.iter().filter(|tp| tp.1 == partition) {
                        if self.partition_at_end(tp) {
                            self.at_end.insert(tp.clone());
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "rebuild: kafka poll error"),
            }
        }
    }

    /// After a read toward offsets dropped messages past them, puts the consumer back at
    /// the next offsets so that a later read sees them.
    pub(crate) fn rewind_if_overshot(&mut self) -> Result<(), KafkaError> {
        if std::mem::take(&mut self.overshot) {
            self.at_end.clear();
            self.assign()?;
        }
        Ok(())
    }

    fn done(&self, goal: &Goal) -> bool {
        match goal {
            Goal::End => self.at_end.len() >= self.partitions.len(),
            Goal::Offsets(targets) => reached(&self.next, targets),
        }
    }

    /// EOF errors name the partition, not the topic: a partition counts as at its end when
    /// what was taken reaches its high watermark, less one for a trailing transaction marker.
    /// (Reading to the end is a best effort before the swap; the swap reads to exact offsets.)
    fn partition_at_end(&self, tp: &TopicPartition) -> bool {
        let Ok((low, high)) =
            self.consumer
                .fetch_watermarks(&tp.0, tp.1, Duration::from_millis(500))
        else {
            return false;
        };
        let next = self.next.get(tp).copied().unwrap_or(low);
        high <= low || next >= high - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(pairs: &[(&str, i32, i64)]) -> HashMap<TopicPartition, i64> {
        pairs
            .iter()
            .map(|(t, p, o)| (((*t).to_owned(), *p), *o))
            .collect()
    }

    #[test]
    fn a_goal_is_reached_when_every_partition_is_at_or_past_it() {
        let goal = offsets(&[("a", 0, 5), ("a", 1, 0)]);
        assert!(!reached(&offsets(&[("a", 0, 4)]), &goal));
        assert!(reached(&offsets(&[("a", 0, 5)]), &goal));
        assert!(reached(&offsets(&[("a", 0, 9), ("a", 1, 3)]), &goal));
        assert!(!reached(&HashMap::new(), &offsets(&[("b", 0, 1)])));
    }

    #[test]
    fn the_furthest_position_is_taken_per_partition() {
        let a = offsets(&[("a", 0, 5), ("a", 1, 2)]);
        let b = offsets(&[("a", 0, 3), ("a", 1, 7), ("b", 0, 1)]);
        assert_eq!(
            furthest(&a, &b),
            offsets(&[("a", 0, 5), ("a", 1, 7), ("b", 0, 1)])
        );
    }
}
