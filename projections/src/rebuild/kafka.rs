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
/// A partition that stays silent this long while reading to the end counts as at its end.
const IDLE: Duration = Duration::from_secs(2);
/// Reading up to given offsets gives up after this long without a message.
const STALLED: Duration = Duration::from_secs(60);

/// How far a read goes.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// To the high watermarks read when the pass began (less one for a trailing transaction
    /// marker; a best effort before the swap, which reads to exact offsets).
    End(HashMap<TopicPartition, (i64, i64)>),
    /// To these next offsets (exclusive); messages at or past them are not taken.
    Offsets(HashMap<TopicPartition, i64>),
}

/// Whether a partition read up to `next` has reached the end `(low, high)`: nothing left
/// but, perhaps, the marker that committed its last transaction.
pub(crate) fn at_end(next: Option<i64>, (low, high): (i64, i64)) -> bool {
    high <= low || next.unwrap_or(low) >= high - 1
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
                IDLE
            } else {
                STALLED
            };
            let received = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) if matches!(goal, Goal::End(_)) => return Ok((taken, true)),
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
                .all(|(tp, end)| at_end(self.next.get(tp).copied(), *end)),
            Goal::Offsets(targets) => reached(&self.next, targets),
        }
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
    fn a_partition_is_at_its_end_up_to_a_trailing_commit_marker() {
        assert!(at_end(None, (0, 0)), "empty");
        assert!(at_end(None, (5, 5)), "emptied by retention");
        assert!(!at_end(None, (0, 10)));
        assert!(!at_end(Some(8), (0, 10)));
        assert!(at_end(Some(9), (0, 10)), "the last offset is the marker");
        assert!(at_end(Some(10), (0, 10)));
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
