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
//!
//! [`apply`] runs those steps for any [`StateProjection`]: the projection supplies its table,
//! its fold and its two writes. [`column`] builds one array parameter of an `unnest`
//! statement, for these writes and for the multi-row inserts of the insert-only projections,
//! whose rows [`rows`] pairs with their events.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::projection::{Envelope, Projection};

/// Folds and writes of one batch before it gives up on rows that keep changing under it.
const ATTEMPTS: usize = 5;

/// A write of [`StateProjection`], boxed: a generic caller cannot yet prove an `async fn`'s
/// future `Send` when it borrows a generic associated type (rust-lang/rust#100013), and the
/// worker needs [`apply`]'s future to be `Send`.
pub(crate) type Write<'a> = Pin<Box<dyn Future<Output = Result<usize, sqlx::Error>> + Send + 'a>>;

/// A read model holding an aggregate's state, one row per aggregate keyed by [`Self::KEY`],
/// whose `version` column guards every write: what [`apply`] needs to run its batches.
pub(crate) trait StateProjection: Projection {
    /// The table of the aggregates' rows (named in the error of an unsettled batch).
    const TABLE: &'static str;
    /// Its aggregate id column.
    const KEY: &'static str;

    /// What a batch does to one aggregate's rows.
    type Patch<'a>: Send + Sync;

    /// The events of aggregate `id` that its row (at version `base`, `None` when absent) has
    /// not applied, folded into one patch; `now` is the transaction's `now()`. `None`:
    /// nothing to write.
    fn fold<'a>(
        id: &'a str,
        base: Option<i64>,
        events: &[&Envelope<Self::Event>],
        now: DateTime<Utc>,
    ) -> Option<Self::Patch<'a>>;

    /// Whether `patch` creates the row (it goes to [`StateProjection::insert`]).
    fn is_new(patch: &Self::Patch<'_>) -> bool;

    /// Writes the new rows (at least one); answers how many it inserted (one that exists
    /// meanwhile is not).
    fn insert<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a>;

    /// Writes the patches (at least one) on the rows still at their base version; answers
    /// how many.
    fn update<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a>;
}

/// Applies `envelopes` to `P`'s rows in a constant number of statements, folding again from
/// the stored versions when another transaction wrote some of them in between.
pub(crate) async fn apply<P: StateProjection>(
    conn: &mut PgConnection,
    envelopes: &[Envelope<P::Event>],
) -> Result<(), sqlx::Error> {
    let groups = by_aggregate(envelopes);
    if groups.is_empty() {
        return Ok(());
    }
    for _ in 0..ATTEMPTS {
        if apply_once::<P>(&mut *conn, &groups).await? {
            return Ok(());
        }
    }
    Err(unsettled(P::TABLE))
}

/// One fold and write of the batch; answers whether every patch was written.
async fn apply_once<P: StateProjection>(
    conn: &mut PgConnection,
    groups: &[Group<'_, P::Event>],
) -> Result<bool, sqlx::Error> {
    let stored = stored(&mut *conn, P::TABLE, P::KEY, groups).await?;
    let (new, known): (Vec<_>, Vec<_>) = groups
        .iter()
        .filter_map(|(id, events)| P::fold(id, stored.version(id), events, stored.now))
        .partition(|p| P::is_new(p));
    let mut written = 0;
    if !new.is_empty() {
        written += P::insert(&mut *conn, &new).await?;
    }
    if !known.is_empty() {
        written += P::update(conn, &known).await?;
    }
    Ok(written == new.len() + known.len())
}

/// One aggregate's events of a batch, in batch order.
type Group<'a, E> = (&'a str, Vec<&'a Envelope<E>>);

/// The batch's events grouped by aggregate (groups in order of first appearance, each
/// group's events in batch order).
fn by_aggregate<E>(envelopes: &[Envelope<E>]) -> Vec<Group<'_, E>> {
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
struct Stored {
    /// The transaction's `now()`: what a per-event statement's `now()` would have been.
    now: DateTime<Utc>,
    /// The version of each aggregate that has a row.
    versions: HashMap<String, i64>,
}

impl Stored {
    /// The stored version of `id`, `None` when it has no row.
    fn version(&self, id: &str) -> Option<i64> {
        self.versions.get(id).copied()
    }
}

/// Reads the versions of `groups`' aggregates from `table` (keyed by `key`), in one statement.
async fn stored<E>(
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
fn unsettled(table: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "{table}: rows kept changing under the batch in {ATTEMPTS} attempts; it is retried"
    ))
}

/// One array parameter of an `unnest` statement: `value` of each of `rows`.
pub(crate) fn column<'a, R, T>(rows: &'a [R], value: impl FnMut(&'a R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// Each of `envelopes` whose event makes a row (`row` of its aggregate id and event), with
/// that row: the rows of an insert-only read model's multi-row insert.
pub(crate) fn rows<E, R>(
    envelopes: &[Envelope<E>],
    row: impl Fn(&str, &E) -> Option<R>,
) -> Vec<(&Envelope<E>, R)> {
    envelopes
        .iter()
        .filter_map(|e| row(&e.aggregate_id, &e.event).map(|r| (e, r)))
        .collect()
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
            Envelope::new("b", 4, ()),
            Envelope::new("a", 1, ()),
            Envelope::new("b", 5, ()),
            Envelope::new("c", 9, ()),
            Envelope::new("a", 2, ()),
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
