//! Waking the reader when events are stored: every statement that inserts into `events`
//! sends `NOTIFY causeway_events` (a trigger, migration `20261203000006`), and a task
//! listening on a connection of its own turns each notification into a wake-up. Polling
//! every `relay.poll_interval_ms` stays as the fallback: when the listener's connection is
//! lost, and when a transaction still open holds back a notified event (the commit order
//! publishes only below `pg_snapshot_xmin`).

use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The channel the `events` trigger notifies.
pub(super) const CHANNEL: &str = "causeway_events";

/// Wake-ups for the reader; dropping it stops the listening task.
pub(super) struct Wake {
    notify: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl Wake {
    /// Resolves at the next notification (at once if one came since the last call).
    pub(super) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// No listener: the reader polls.
    fn polling() -> Self {
        Self {
            notify: Arc::new(Notify::new()),
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
    let wakes = Arc::clone(&notify);
    let task = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                // A lost connection reconnects on the next call; polling covers the gap.
                Ok(Some(_)) | Ok(None) => wakes.notify_one(),
                Err(error) => {
                    tracing::warn!(%error, "relay stopped listening for new events; it polls");
                    return;
                }
            }
        }
    });
    Wake {
        notify,
        task: Some(task),
    }
}
