//! Set-based batches for the read models that hold an aggregate's state (ADR 0014).
//!
//! A batch costs a constant number of statements, whatever its size: one `SELECT` of the
//! stored versions of the batch's aggregates (with the transaction's `now()`), then, per
//! table, one multi-row `INSERT … FROM unnest(…)` for aggregates that have no row yet and one
//! `UPDATE … FROM unnest(…)` for the others. In between, each projection folds the events of
//! one aggregate that its row has not applied into one row patch, with a pure function.
//!
//! Every write is guarded by the version the patch was folded from (`version = base`, or no
//! row at all for an insert). A row that another transaction wrote in between (a zombie
//! worker after a rebalance) is therefore left alone, and the batch is folded again from the
//! new versions: aggregates already written have nothing left to apply, the others are
//! re-based. The result is always what applying the events one by one gives.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::projection::Envelope;

/// Folds and writes of one batch before it gives up on rows that keep changing under it.
pub(crate) const ATTEMPTS: usize = 5;

/// One aggregate's events of a batch, in batch order.
pub(crate) type Group<'a, E> = (&'a str, Vec<&'a Envelope<E>>);

/// The batch's events grouped by aggregate (groups in order of first appearance, each
/// group's events in batch order).
pub(crate) fn by_aggregate<E>(envelopes: &[Envelope<E>]) -> Vec<Group<'_, E>> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(envelopes.len());
    let mut groups: Vec<Group<'_, E>> = Vec::new();
    for envelope in envelopes {
        let id = envelope.aggregate_id.as_str();
        let slot = *index.entry(id).or_insert_with(|| {
            groups.push((id, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(envelope);
    }
    groups
}

/// What the rows of a batch's aggregates hold when the batch starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The transaction's `now()`: what a per-event statement's `now()` would have been.
    pub(crate) now: DateTime<Utc>,
    /// The version of each aggregate that has a row.
    pub(crate) versions: HashMap<String, i64>,
}

impl Stored {
    /// The stored version of `id`, `None` when it has no row.
    pub(crate) fn version(&self, id: &str) -> Option<i64> {
        self.versions.get(id).copied()
    }
}

/// Reads the versions of `groups`' aggregates from `table` (keyed by `key`), in one statement.
pub(crate) async fn stored<E>(
    conn: &mut PgConnection,
    table: &str,
    key: &str,
    groups: &[Group<'_, E>],
) -> Result<Stored, sqlx::Error> {
    let ids: Vec<&str> = groups.iter().map(|(id, _)| *id).collect();
    let sql = format!(
        "SELECT now(), s.ids, s.versions
         FROM (SELECT array_agg({key}) AS ids, array_agg(version) AS versions
               FROM {table} WHERE {key} = ANY($1)) AS s"
    );
    let (now, ids, versions): (DateTime<Utc>, Option<Vec<String>>, Option<Vec<i64>>) =
        sqlx::query_as(&sql).bind(&ids).fetch_one(conn).await?;
    let versions = ids
        .unwrap_or_default()
        .into_iter()
        .zip(versions.unwrap_or_default())
        .collect();
    Ok(Stored { now, versions })
}

/// The error of a batch whose rows kept being written by another transaction.
pub(crate) fn unsettled(table: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "{table}: rows kept changing under the batch in {ATTEMPTS} attempts; it is retried"
    ))
}

/// Converts a row count reported by Postgres.
pub(crate) fn count(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_grouped_by_aggregate_in_first_appearance_and_batch_order() {
        let batch = [
            Envelope::bare("b", 4),
            Envelope::bare("a", 1),
            Envelope::bare("b", 5),
            Envelope::bare("c", 9),
            Envelope::bare("a", 2),
        ];
        let groups: Vec<(&str, Vec<i64>)> = by_aggregate(&batch)
            .into_iter()
            .map(|(id, events)| (id, events.iter().map(|e| e.sequence).collect()))
            .collect();
        assert_eq!(
            groups,
            vec![("b", vec![4, 5]), ("a", vec![1, 2]), ("c", vec![9])]
        );
    }
}
