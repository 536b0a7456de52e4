//! The `projection_offsets` table: per projection, topic and partition, the offset of the
//! next message to read. Written in the same transaction as the rows of each batch.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

/// A topic partition.
pub type TopicPartition = (String, i32);

/// The stored next offsets of `projection`.
pub async fn load(
    pool: &PgPool,
    projection: &str,
) -> Result<HashMap<TopicPartition, i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1",
    )
    .bind(projection)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, next)| ((topic, partition), next))
        .collect())
}

/// Stores `next` offsets of `projection` (inside the caller's transaction).
pub async fn store(
    conn: &mut PgConnection,
    projection: &str,
    next: &HashMap<TopicPartition, i64>,
) -> Result<(), sqlx::Error> {
    let mut topics = Vec::with_capacity(next.len());
    let mut partitions = Vec::with_capacity(next.len());
    let mut offsets = Vec::with_capacity(next.len());
    for ((topic, partition), offset) in next {
        topics.push(topic.clone());
        partitions.push(*partition);
        offsets.push(*offset);
    }
    sqlx::query(
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, t, p, o FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
         ON CONFLICT (projection, topic, partition)
         DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
    )
    .bind(projection)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(conn)
    .await?;
    Ok(())
}
