//! One active relay at a time: a Postgres advisory lock held on a dedicated connection.
//! When the leader's process dies its connection closes, the lock is released and a standby
//! takes it. A leader that lost its connection but still runs is fenced by Kafka's
//! `transactional.id` with transactional delivery; with idempotent delivery it notices at its
//! next lock check (within a second) and until then can only publish duplicates (ADR 0018).

use std::time::Duration;

use causeway_infra::settings::{DatabaseSettings, RelaySettings};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

/// The held lock; dropping it closes the connection and releases the lock.
pub struct Leadership {
    connection: PgConnection,
}

impl Leadership {
    /// Waits until this process holds the lock, trying every `standby_retry_ms`.
    /// Answers `None` when `stop` turns true first.
    /// The lock is `relay.lock_key`, on a connection of its own to `database`.
    pub async fn acquire(
        settings: &RelaySettings,
        database: &DatabaseSettings,
        stop: &watch::Receiver<bool>,
    ) -> Option<Self> {
        let retry = Duration::from_millis(settings.standby_retry_ms);
        let mut announced = false;
        while !*stop.borrow() {
            match try_acquire(settings, database).await {
                Ok(Some(leadership)) => return Some(leadership),
                Ok(None) if !announced => {
                    tracing::info!("relay standing by: another instance is the leader");
                    announced = true;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "relay cannot reach Postgres for the leader lock")
                }
            }
            tokio::time::sleep(retry).await;
        }
        None
    }

    /// Whether the lock connection still answers (a lost connection means a lost lock).
    pub async fn still_held(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

async fn try_acquire(
    settings: &RelaySettings,
    database: &DatabaseSettings,
) -> Result<Option<Leadership>, sqlx::Error> {
    // The OS pid in application_name lets an operator (and the tests) see who leads.
    let options = database
        .connect_options()
        .application_name(&format!("causeway-relay-{}", std::process::id()));
    let mut connection = PgConnection::connect_with(&options).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(settings.lock_key)
        .fetch_one(&mut connection)
        .await?;
    Ok(locked.then_some(Leadership { connection }))
}
