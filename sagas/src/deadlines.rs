//! Durable order deadlines (`order_deadlines`, docs/architecture.md §2.7): scheduled by the order
//! participant, expired by the [`DeadlineWatcher`].
//!
//! The watcher locks due rows with `FOR UPDATE SKIP LOCKED` (several watchers share the
//! work), expires each order through the event store, and deletes the rows in the
//! transaction that held the lock. A crash in between leaves the rows; expiring an order
//! again changes nothing.

use std::time::Duration;

use causeway_domain::OrderId;
use causeway_domain::order::OrderCommand;
use causeway_event_store::CommandMetadata;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::SagaError;
use crate::reaction::Reaction;
use crate::reactor::{Cause, Outcome, Reactor};

/// Records when `order_id` expires, with the flow and trace of the event that placed it.
/// Answers whether a row was added (false: already scheduled).
pub async fn schedule(
    pool: &PgPool,
    order_id: OrderId,
    deadline: DateTime<Utc>,
    metadata: &CommandMetadata,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO order_deadlines (order_id, deadline, correlation_id, causation_id, traceparent)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id.to_string())
    .bind(deadline)
    .bind(metadata.correlation_id)
    .bind(metadata.causation_id)
    .bind(&metadata.traceparent)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Forgets the deadline of an order that is confirmed or final. Answers whether one was
/// there.
pub async fn clear(pool: &PgPool, order_id: OrderId) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM order_deadlines WHERE order_id = $1")
        .bind(order_id.to_string())
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// One deadline change of a batch: schedule (with the placing event's flow) or clear.
#[derive(Debug, Clone)]
pub enum DeadlineChange {
    /// [`schedule`] it.
    Schedule {
        /// The order.
        order_id: OrderId,
        /// When it expires.
        deadline: DateTime<Utc>,
        /// The flow and trace the expiry continues.
        metadata: CommandMetadata,
    },
    /// [`clear`] it.
    Clear {
        /// The order.
        order_id: OrderId,
    },
}

impl DeadlineChange {
    fn order_id(&self) -> OrderId {
        match self {
            Self::Schedule { order_id, .. } | Self::Clear { order_id } => *order_id,
        }
    }
}

/// Applies a batch's deadline changes, given in message order, in one transaction of two
/// statements instead of one transaction each: per order only its last change counts (a
/// clear after a schedule leaves no row, as one at a time would). Answers the orders whose
/// row changed.
pub async fn apply(
    pool: &PgPool,
    changes: &[DeadlineChange],
) -> Result<std::collections::HashSet<OrderId>, sqlx::Error> {
    let mut last: std::collections::HashMap<OrderId, &DeadlineChange> =
        std::collections::HashMap::new();
    for change in changes {
        last.insert(change.order_id(), change);
    }
    let (mut scheduled, mut cleared) = (Vec::new(), Vec::new());
    for change in last.into_values() {
        match change {
            DeadlineChange::Schedule { .. } => scheduled.push(change),
            DeadlineChange::Clear { order_id } => cleared.push(order_id.to_string()),
        }
    }
    let column = |f: &dyn Fn(&DeadlineChange) -> Option<String>| -> Vec<Option<String>> {
        scheduled.iter().map(|c| f(c)).collect()
    };
    let ids = column(&|c| Some(c.order_id().to_string()));
    let deadlines: Vec<DateTime<Utc>> = scheduled
        .iter()
        .filter_map(|c| match c {
            DeadlineChange::Schedule { deadline, .. } => Some(*deadline),
            DeadlineChange::Clear { .. } => None,
        })
        .collect();
    let metadata = |f: fn(&CommandMetadata) -> Option<String>| {
        column(&|c| match c {
            DeadlineChange::Schedule { metadata, .. } => f(metadata),
            DeadlineChange::Clear { .. } => None,
        })
    };
    let correlations = metadata(|m| Some(m.correlation_id.to_string()));
    let causations = metadata(|m| m.causation_id.map(|id| id.to_string()));
    let traceparents = metadata(|m| m.traceparent.clone());
    let mut transaction = pool.begin().await?;
    let mut changed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO order_deadlines (order_id, deadline, correlation_id, causation_id, traceparent)
         SELECT o, d, c::uuid, k::uuid, t
         FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) AS x(o, d, c, k, t)
         ON CONFLICT (order_id) DO NOTHING
         RETURNING order_id",
    )
    .bind(&ids)
    .bind(&deadlines)
    .bind(&correlations)
    .bind(&causations)
    .bind(&traceparents)
    .fetch_all(&mut *transaction)
    .await?;
    changed.extend(
        sqlx::query_scalar::<_, String>(
            "DELETE FROM order_deadlines WHERE order_id = ANY($1) RETURNING order_id",
        )
        .bind(&cleared)
        .fetch_all(&mut *transaction)
        .await?,
    );
    transaction.commit().await?;
    Ok(changed.iter().filter_map(|id| id.parse().ok()).collect())
}

/// Expires orders whose deadline has passed.
#[derive(Debug, Clone)]
pub struct DeadlineWatcher {
    pool: PgPool,
    reactor: Reactor,
    poll: Duration,
    batch: i64,
}

#[derive(sqlx::FromRow)]
struct Due {
    order_id: String,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    traceparent: Option<String>,
}

impl DeadlineWatcher {
    /// A watcher looking every `poll`, expiring at most 100 orders per transaction.
    pub fn new(pool: PgPool, reactor: Reactor, poll: Duration) -> Self {
        Self {
            pool,
            reactor,
            poll,
            batch: 100,
        }
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!("deadline watcher started");
        loop {
            let pause = match self.expire_due(Utc::now()).await {
                Ok(expired) if expired as i64 >= self.batch => Duration::ZERO,
                Ok(_) => self.poll,
                Err(error) => {
                    tracing::error!(error = %causeway_infra::error::error_chain(&error), "deadline watcher failed; retrying");
                    self.poll.max(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
            if *stop.borrow() {
                break;
            }
        }
        tracing::info!("deadline watcher stopped");
    }

    /// Expires every order due at `now` (up to one batch); answers how many rows it took.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, SagaError> {
        let mut tx = self.pool.begin().await?;
        let due: Vec<Due> = sqlx::query_as(
            "SELECT order_id, correlation_id, causation_id, traceparent FROM order_deadlines
             WHERE deadline <= $1 ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut done = Vec::with_capacity(due.len());
        for row in &due {
            if self.expire(row, now).await? {
                done.push(row.order_id.clone());
            }
        }
        sqlx::query("DELETE FROM order_deadlines WHERE order_id = ANY($1)")
            .bind(&done)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(due.len())
    }

    /// Expires one order; answers whether its deadline row can go.
    async fn expire(&self, row: &Due, now: DateTime<Utc>) -> Result<bool, SagaError> {
        let Ok(order_id) = OrderId::parse(&row.order_id) else {
            tracing::error!(
                order_id = row.order_id,
                "deadline of an unparseable order id dropped"
            );
            return Ok(true);
        };
        let span = tracing::info_span!("saga.deadline", otel.name = "order deadline passed", order_id = %order_id);
        if let Some(traceparent) = &row.traceparent {
            causeway_infra::telemetry::continue_trace(&span, traceparent);
        }
        let cause = Cause {
            event_id: row.causation_id,
            correlation_id: row.correlation_id,
            traceparent: row.traceparent.clone(),
        };
        let reaction = Reaction::Order {
            order_id,
            command: OrderCommand::Expire { now },
        };
        let outcome = self.reactor.run(&reaction, &cause).instrument(span).await?;
        tracing::debug!(%order_id, outcome = outcome.label(), "deadline handled");
        // A deadline not reached by this clock stays for the next look.
        Ok(outcome != Outcome::Refused("deadline_not_reached"))
    }
}
