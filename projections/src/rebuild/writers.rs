//! The connections a rebuild writes the shadow tables through. Events are split by aggregate
//! id over several connections, so one aggregate's events stay in order on one connection
//! while Postgres works on the others' statements in parallel; each slice of a batch is one
//! transaction. Commits are not waited for on disk (`synchronous_commit = off`): a crash
//! loses the whole rebuild anyway, which then starts again from scratch.

use std::hash::{DefaultHasher, Hash, Hasher};

use futures::future::try_join_all;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

use crate::projection::{Envelope, Projection};

/// Connections writing the shadow tables.
pub(crate) struct Writers {
    connections: Vec<PgConnection>,
}

/// Which of `writers` connections applies the events of `aggregate_id` (stable across runs).
pub(crate) fn slot(aggregate_id: &str, writers: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    aggregate_id.hash(&mut hasher);
    (hasher.finish() % writers.max(1) as u64) as usize
}

/// Splits `events` into `writers` slices by aggregate, keeping each slice in order.
pub(crate) fn split<E>(events: Vec<Envelope<E>>, writers: usize) -> Vec<Vec<Envelope<E>>> {
    let writers = writers.max(1);
    let mut slices: Vec<Vec<Envelope<E>>> = (0..writers).map(|_| Vec::new()).collect();
    for event in events {
        let slot = slot(&event.aggregate_id, writers);
        slices[slot].push(event);
    }
    slices
}

impl Writers {
    /// `count` connections whose `search_path` is `search_path`.
    pub(crate) async fn connect(
        options: &PgConnectOptions,
        search_path: &str,
        count: usize,
    ) -> Result<Self, sqlx::Error> {
        let mut connections = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let mut connection = PgConnection::connect_with(options).await?;
            connection
                .execute(
                    format!("SET search_path TO {search_path}; SET synchronous_commit TO off")
                        .as_str(),
                )
                .await?;
            connections.push(connection);
        }
        Ok(Self { connections })
    }

    /// No connections (what is left after [`Writers::close`]).
    pub(crate) fn empty() -> Self {
        Self {
            connections: Vec::new(),
        }
    }

    /// Applies `events` (in order per aggregate) to the shadow tables.
    pub(crate) async fn apply<P: Projection>(
        &mut self,
        projection: &P,
        events: Vec<Envelope<P::Event>>,
    ) -> Result<(), sqlx::Error> {
        let slices = split(events, self.connections.len());
        try_join_all(
            self.connections
                .iter_mut()
                .zip(slices)
                .filter(|(_, slice)| !slice.is_empty())
                .map(|(connection, slice)| async move {
                    let mut tx = connection.begin().await?;
                    projection.apply_batch(&mut tx, &slice).await?;
                    tx.commit().await
                }),
        )
        .await?;
        Ok(())
    }

    /// Closes the connections.
    pub(crate) async fn close(self) {
        for connection in self.connections {
            let _ = connection.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_aggregates_events_land_on_one_writer_in_their_order() {
        let events: Vec<_> = (1..=5)
            .flat_map(|seq| ["a", "b", "c", "d", "e", "f"].map(|id| Envelope::new(id, seq, ())))
            .collect();
        let slices = split(events, 3);
        assert_eq!(slices.len(), 3);
        assert_eq!(slices.iter().map(Vec::len).sum::<usize>(), 30);
        for slice in &slices {
            for id in ["a", "b", "c", "d", "e", "f"] {
                let sequences: Vec<i64> = slice
                    .iter()
                    .filter(|e| e.aggregate_id == id)
                    .map(|e| e.sequence)
                    .collect();
                assert!(
                    sequences.is_empty() || sequences == vec![1, 2, 3, 4, 5],
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn a_single_writer_keeps_the_global_order() {
        let events = vec![
            Envelope::new("b", 1, ()),
            Envelope::new("a", 1, ()),
            Envelope::new("b", 2, ()),
        ];
        let slices = split(events, 1);
        let order: Vec<(&str, i64)> = slices[0]
            .iter()
            .map(|e| (e.aggregate_id.as_str(), e.sequence))
            .collect();
        assert_eq!(order, vec![("b", 1), ("a", 1), ("b", 2)]);
    }
}
