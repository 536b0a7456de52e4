//! Waking the reader when events are stored: every statement that inserts into `events`
//! sends `NOTIFY causeway_events` with its transaction's id (a trigger, migrations
//! `20261203000006` and `…07`), and a task listening on a connection of its own turns each
//! notification into a wake-up and keeps the highest transaction id notified.
//!
//! The commit order reads only below `pg_snapshot_xmin`, so a notified event can be held
//! back for a few milliseconds by an older transaction still open. The reader therefore
//! looks again soon while it has not read past the highest notified transaction
//! ([`Wake::held_back`]), and otherwise waits for the next notification. Polling every
//! `relay.poll_interval_ms` stays as the fallback: when the listener's connection is lost, or
//! the older transaction stays open longer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The channel the `events` trigger notifies.
pub(super) const CHANNEL: &str = "causeway_events";

/// Wake-ups for the reader; dropping it stops the listening task.
pub(super) struct Wake {
    notify: Arc<Notify>,
    /// The highest transaction id notified (`i64::MAX` after a notification without one).
    latest: Arc<AtomicI64>,
    task: Option<JoinHandle<()>>,
}

impl Wake {
    /// Resolves at the next notification (at once if one came since the last call).
    pub(super) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Whether a notified transaction's events lie beyond `read_up_to`, the transaction id of
    /// the last event read: they are committed, and held back by an older open transaction.
    pub(super) fn held_back(&self, read_up_to: i64) -> bool {
        self.latest.load(Ordering::Acquire) > read_up_to
    }

    /// No listener: the reader polls.
    fn polling() -> Self {
        Self {
            notify: Arc::new(Notify::new()),
            latest: Arc::new(AtomicI64::new(0)),
            task: None,
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Listens on [`CHANNEL`]; when that fails the relay only polls (and says so).
pub(super) async fn listen(pool: &PgPool) -> Wake {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "relay cannot listen for new events; it polls");
            return Wake::polling();
        }
    };
    if let Err(error) = listener.listen(CHANNEL).await {
        tracing::warn!(%error, "relay cannot listen for new events; it polls");
        return Wake::polling();
    }
    let notify = Arc::new(Notify::new());
    let latest = Arc::new(AtomicI64::new(0));
    let (wakes, notified) = (Arc::clone(&notify), Arc::clone(&latest));
    let task = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    notified.fetch_max(transaction_id(notification.payload()), Ordering::AcqRel);
                    wakes.notify_one();
                }
                // A lost connection reconnects on the next call; what was notified meanwhile
                // is unknown, so the reader looks again soon for a while.
                Ok(None) => {
                    notified.store(i64::MAX, Ordering::Release);
                    wakes.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "relay stopped listening for new events; it polls");
                    return;
                }
            }
        }
    });
    Wake {
        notify,
        latest,
        task: Some(task),
    }
}

/// The transaction id a notification names; one without (a trigger older than migration
/// `20261203000007`) counts as the highest.
fn transaction_id(payload: &str) -> i64 {
    payload.parse().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_its_transaction_or_counts_as_the_highest() {
        assert_eq!(transaction_id("7421"), 7421);
        assert_eq!(transaction_id(""), i64::MAX);
    }

    #[test]
    fn events_are_held_back_until_the_reader_has_read_past_the_latest_notified_transaction() {
        let wake = Wake::polling();
        assert!(!wake.held_back(0));
        wake.latest.fetch_max(120, Ordering::AcqRel);
        assert!(wake.held_back(119));
        assert!(!wake.held_back(120));
    }
}
