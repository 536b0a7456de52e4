//! `causeway projections status`: per projection and partition, the stored next offset, the
//! partition's end (high watermark) and the lag between them.
//!
//! The high watermark counts the relay's transaction markers (one per Kafka transaction), so a
//! projection that has applied everything shows a lag of at most 1 on a partition.

use std::time::Duration;

use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;

use crate::ProjectionError;
use crate::offsets;
use crate::registry;

const TIMEOUT: Duration = Duration::from_secs(5);

/// The lag of one projection on one partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionLag {
    /// The projection.
    pub projection: String,
    /// Its consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset the projection will read, as stored with its rows; `None` before its
    /// first batch.
    pub stored_offset: Option<i64>,
    /// The partition's high watermark.
    pub end_offset: i64,
    /// Records between the two (from the low watermark when nothing is stored).
    pub lag: i64,
}

/// The lag of a partition: from the stored offset (or the first record still kept) to the end.
pub fn lag(stored: Option<i64>, low: i64, end: i64) -> i64 {
    (end - stored.unwrap_or(low).max(low)).max(0)
}

/// Every projection's lag, per partition of its topics. A topic that does not exist yet
/// (nothing published) has no partitions to show.
pub async fn status(
    settings: &Settings,
    pool: &PgPool,
) -> Result<Vec<PartitionLag>, ProjectionError> {
    let mut rows = Vec::new();
    for info in registry::list(settings) {
        let stored = offsets::load(pool, info.name).await?;
        let marks = watermarks(settings, info.topics.clone()).await?;
        for (topic, partition, low, high) in marks {
            let stored_offset = stored.get(&(topic.clone(), partition)).copied();
            rows.push(PartitionLag {
                projection: info.name.to_owned(),
                group: info.group.clone(),
                topic,
                partition,
                stored_offset,
                end_offset: high,
                lag: lag(stored_offset, low, high),
            });
        }
    }
    Ok(rows)
}

/// `(topic, partition, low, high)` of every partition of `topics`.
async fn watermarks(
    settings: &Settings,
    topics: Vec<String>,
) -> Result<Vec<(String, i32, i64, i64)>, ProjectionError> {
    let consumer: BaseConsumer = client_config(&settings.kafka).create()?;
    let found = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for topic in topics {
            let metadata = consumer.fetch_metadata(Some(&topic), TIMEOUT)?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            for partition in partitions {
                let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
                out.push((topic.clone(), partition, low, high));
            }
        }
        Ok::<_, rdkafka::error::KafkaError>(out)
    })
    .await
    .map_err(|_| ProjectionError::SeekFailed)??;
    Ok(found)
}

/// The lag rows as an aligned text table.
pub fn render(rows: &[PartitionLag]) -> String {
    let header = ["PROJECTION", "TOPIC", "PART", "STORED", "END", "LAG"];
    let body: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.projection.clone(),
                r.topic.clone(),
                r.partition.to_string(),
                r.stored_offset
                    .map_or_else(|| "-".to_owned(), |o| o.to_string()),
                r.end_offset.to_string(),
                r.lag.to_string(),
            ]
        })
        .collect();
    table(&header, &body)
}

/// Aligns columns: a column of numbers (or `-`) right, text left.
pub fn table<const N: usize>(header: &[&str; N], body: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    let mut numeric = [true; N];
    for row in body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
            numeric[i] &= cell.parse::<i64>().is_ok() || cell == "-";
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let width = widths[i];
                if numeric[i] {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        body.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_runs_from_the_stored_offset_or_the_first_kept_record_to_the_end() {
        assert_eq!(lag(Some(7), 0, 10), 3);
        assert_eq!(lag(None, 0, 10), 10);
        assert_eq!(lag(None, 4, 10), 6);
        // Records before the stored offset were deleted by retention: still up to the end.
        assert_eq!(lag(Some(2), 4, 10), 6);
        assert_eq!(lag(Some(11), 0, 10), 0);
    }

    #[test]
    fn the_table_aligns_text_left_and_numbers_right() {
        let body = [
            ["orders".to_owned(), "7".to_owned()],
            ["inventory".to_owned(), "12345".to_owned()],
        ];
        let text = table(&["NAME", "LAG"], &body);
        assert_eq!(text, "NAME         LAG\norders         7\ninventory  12345");
    }
}
