//! Postgres glue: the pool and the migrations embedded from `migrations/`.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgPool};

use crate::InfraError;
use crate::settings::DatabaseSettings;

/// The event store and relay schema, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so a process starts (and reports itself not ready)
/// while Postgres is still down.
pub fn lazy_pool(settings: &DatabaseSettings) -> PgPool {
    pool_options(settings).connect_lazy_with(settings.connect_options())
}

/// A pool whose first connection is made now: fails fast when Postgres is unreachable.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, InfraError> {
    Ok(pool_options(settings)
        .connect_with(settings.connect_options())
        .await?)
}

/// Applies every pending migration; safe to run again and from several processes at once
/// (sqlx takes an advisory lock).
#[tracing::instrument(skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), InfraError> {
    Ok(MIGRATOR.run(pool).await?)
}

/// A connection idle for longer than this is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// sqlx pings every idle connection it hands out by default: one extra round trip per
/// query, which doubled the cost of a command's short statements. Only a connection that
/// sat idle long enough to have been dropped by a restart or a firewall is checked here; a
/// busy connection that breaks fails its statement, and the pool then discards it.
fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}
