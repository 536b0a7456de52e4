//! Postgres glue: the pool and the migrations embedded from `migrations/`.

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

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

fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
}
