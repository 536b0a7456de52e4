//! The relay's checkpoint: the last published [`Position`], written to a compacted topic in
//! the same Kafka transaction as the events it covers, and read back (`read_committed`) when
//! a relay becomes leader.

use std::time::Duration;

use causeway_event_store::Position;
use causeway_infra::kafka::{TopicSpec, client_config};
use causeway_infra::settings::{KafkaSettings, RelaySettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::RelayError;

/// The key of every checkpoint record (compaction keeps the newest).
pub const CHECKPOINT_KEY: &str = "relay";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Records read back from the end of the topic to find the newest committed checkpoint:
/// each transaction adds one checkpoint and one commit marker.
const TAIL: i64 = 64;

/// The checkpoint record's value.
pub fn encode_checkpoint(position: Position) -> Vec<u8> {
    serde_json::to_vec(&position).unwrap_or_default()
}

fn decode_checkpoint(bytes: &[u8]) -> Result<Position, RelayError> {
    serde_json::from_slice(bytes).map_err(|e| RelayError::Checkpoint(e.to_string()))
}

/// The checkpoint topic: compacted, one partition.
pub fn topic_spec(settings: &RelaySettings) -> TopicSpec {
    TopicSpec {
        name: settings.checkpoint_topic.clone(),
        partitions: 1,
        compacted: true,
    }
}

/// The newest committed checkpoint, or the start when none was ever written.
pub async fn read(settings: &RelaySettings, kafka: &KafkaSettings) -> Result<Position, RelayError> {
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", format!("{}-reader", settings.transactional_id))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let topic = settings.checkpoint_topic.clone();
    tokio::task::spawn_blocking(move || read_blocking(&consumer, &topic))
        .await
        .map_err(|e| RelayError::Checkpoint(e.to_string()))?
}

fn read_blocking(consumer: &BaseConsumer, topic: &str) -> Result<Position, RelayError> {
    let (low, high) = consumer.fetch_watermarks(topic, 0, TIMEOUT)?;
    if high == low {
        // Never written (or all of it deleted): nothing to wait for.
        return Ok(Position::default());
    }
    let tail_start = (high - TAIL).max(low);
    if let Some(position) = newest_from(consumer, topic, tail_start)? {
        return Ok(position);
    }
    if tail_start == low {
        return Ok(Position::default());
    }
    // Nothing committed in the tail (e.g. only aborted transactions): read it all.
    Ok(newest_from(consumer, topic, low)?.unwrap_or_default())
}

fn newest_from(
    consumer: &BaseConsumer,
    topic: &str,
    start: i64,
) -> Result<Option<Position>, RelayError> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Offset(start))?;
    consumer.assign(&assignment)?;
    let mut newest = None;
    loop {
        match consumer.poll(TIMEOUT) {
            Some(Ok(message)) => {
                if let Some(payload) = message.payload() {
                    newest = Some(decode_checkpoint(payload)?);
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(newest),
            Some(Err(error)) => return Err(error.into()),
            None => {
                return Err(RelayError::Checkpoint(format!(
                    "no answer from {topic} within {TIMEOUT:?}"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips() {
        let position = Position {
            transaction_id: 981,
            global_position: 12_345,
        };
        assert_eq!(
            decode_checkpoint(&encode_checkpoint(position)).unwrap(),
            position
        );
    }

    #[test]
    fn positions_order_by_transaction_then_global_position() {
        let early_txn_late_row = Position {
            transaction_id: 10,
            global_position: 99,
        };
        let late_txn_early_row = Position {
            transaction_id: 11,
            global_position: 5,
        };
        assert!(early_txn_late_row < late_txn_early_row);
    }
}
