//! Reading a projection's topics from offset 0 for a rebuild: a consumer with a manual
//! assignment (it never joins nor commits to the live consumer group), `read_committed`,
//! reporting where each partition ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use causeway_consumer::ConsumerConfig;
use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::RebuildError;
use crate::ProjectionError;
use crate::offsets::TopicPartition;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Reading to the end, after this long without a message the positions are checked: a
/// partition ending in a commit marker is at its end once the consumer moved past it.
const QUIET: Duration = Duration::from_millis(100);
/// A partition that stays silent this long more while reading to the end counts as at its
/// end.
const IDLE: Duration = Duration::from_secs(2);
/// Reading up to given offsets gives up after this long without a message.
const STALLED: Duration = Duration::from_secs(60);

/// How far a read goes.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// To the high watermarks read when the pass began (a best effort before the swap, which
    /// reads to exact offsets).
    End(HashMap<TopicPartition, (i64, i64)>),
    /// To these next offsets (exclusive); messages at or past them are not taken.
    Offsets(HashMap<TopicPartition, i64>),
}

/// Whether a partition read up to `next` has reached the end `(low, high)`. A partition
/// may end with the marker that committed its last transaction (the transactional relay),
/// which is no message: the consumer's `position`, which librdkafka moves past markers, then
/// reaches `high` while `next` stays one short. Without markers (the idempotent relay) the
/// last offset is an event, and `next` must pass it.
pub(crate) fn at_end(next: Option<i64>, position: Option<i64>, (low, high): (i64, i64)) -> bool {
    high <= low || next.unwrap_or(low) >= high || position.is_some_and(|p| p >= high)
}

/// The rebuild's consumer and where it stands.
pub(crate) struct KafkaSource {
    consumer: StreamConsumer,
    /// For watermark queries, which block: used on blocking threads.
    admin: Arc<BaseConsumer>,
    partitions: Vec<TopicPartition>,
    /// The next offset to take, per partition: the last taken + 1.
    pub(crate) next: HashMap<TopicPartition, i64>,
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
        let consumer: StreamConsumer =
            ConsumerConfig::reader(format!("{group}.rebuild")).create(&settings.kafka)?;
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
        let admin: BaseConsumer = client_config(&settings.kafka).create()?;
        let source = Self {
            consumer,
            admin: Arc::new(admin),
            partitions,
            next: HashMap::new(),
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

    /// `(low, high)` watermarks of every partition now.
    pub(crate) async fn watermarks(
        &self,
    ) -> Result<HashMap<TopicPartition, (i64, i64)>, ProjectionError> {
        let admin = Arc::clone(&self.admin);
        let partitions = self.partitions.clone();
        tokio::task::spawn_blocking(move || {
            let mut marks = HashMap::new();
            for (topic, partition) in partitions {
                let mark = admin.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)?;
                marks.insert((topic, partition), mark);
            }
            Ok(marks)
        })
        .await
        .map_err(|_| ProjectionError::SeekFailed)?
    }

    /// Up to `limit` messages toward `goal`, and whether the goal is reached.
    pub(crate) async fn read(
        &mut self,
        limit: usize,
        goal: &Goal,
    ) -> Result<(Vec<OwnedMessage>, bool), RebuildError> {
        let mut taken = Vec::new();
        loop {
            if self.done(goal) {
                return Ok((taken, true));
            }
            if taken.len() >= limit {
                return Ok((taken, false));
            }
            let wait = if matches!(goal, Goal::End(_)) {
                QUIET
            } else {
                STALLED
            };
            let received = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) if self.at_end_past_markers(goal) => return Ok((taken, true)),
                Err(_) if matches!(goal, Goal::End(_)) => {
                    match tokio::time::timeout(IDLE, self.consumer.recv()).await {
                        Err(_) => return Ok((taken, true)),
                        Ok(received) => received,
                    }
                }
                Err(_) => return Err(RebuildError::Stalled),
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
                    self.next.insert(tp, message.offset() + 1);
                    taken.push(message.detach());
                }
                Err(KafkaError::PartitionEOF(_)) => {}
                Err(error) => tracing::warn!(%error, "rebuild: kafka poll error"),
            }
        }
    }

    /// After a read toward offsets dropped messages past them, puts the consumer back at
    /// the next offsets so that a later read sees them.
    pub(crate) fn rewind_if_overshot(&mut self) -> Result<(), KafkaError> {
        if std::mem::take(&mut self.overshot) {
            self.assign()?;
        }
        Ok(())
    }

    fn done(&self, goal: &Goal) -> bool {
        match goal {
            Goal::End(ends) => ends
                .iter()
                .all(|(tp, end)| at_end(self.next.get(tp).copied(), None, *end)),
            Goal::Offsets(targets) => reached(&self.next, targets),
        }
    }

    /// Toward the end, once nothing has arrived for [`QUIET`]: whether every partition is
    /// at its end, counting a trailing commit marker the consumer has moved past.
    fn at_end_past_markers(&self, goal: &Goal) -> bool {
        let Goal::End(ends) = goal else {
            return false;
        };
        let positions = self.positions();
        ends.iter()
            .all(|(tp, end)| at_end(self.next.get(tp).copied(), positions.get(tp).copied(), *end))
    }

    /// The consumer's position (next offset to fetch) per partition, where it has one.
    fn positions(&self) -> HashMap<TopicPartition, i64> {
        let Ok(list) = self.consumer.position() else {
            return HashMap::new();
        };
        list.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some(((e.topic().to_owned(), e.partition()), offset)),
                _ => None,
            })
            .collect()
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
    fn a_partition_is_at_its_end_once_read_or_positioned_past_its_last_offset() {
        assert!(at_end(None, None, (0, 0)), "empty");
        assert!(at_end(None, None, (5, 5)), "emptied by retention");
        assert!(!at_end(None, None, (0, 10)));
        assert!(!at_end(Some(8), Some(8), (0, 10)));
        assert!(
            !at_end(Some(9), Some(9), (0, 10)),
            "the last offset is an event not yet read"
        );
        assert!(
            at_end(Some(9), Some(10), (0, 10)),
            "the last offset is a commit marker, skipped"
        );
        assert!(at_end(Some(10), None, (0, 10)));
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
