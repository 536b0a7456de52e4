//! Idempotency records: the `idempotency_keys` table, which lets a retried command take
//! effect at most once and be answered as the first time. The design and its failure cases
//! are in docs/adr/0005; the command API's `Idempotency-Key` header is their one user.
//!
//! - A key is scoped by caller; its row holds the request fingerprint, `in_progress` or
//!   `completed`, and the final answer (a status number and a JSON body).
//! - All work on a key happens while holding a transaction-scoped advisory lock on it, on a
//!   connection of its own ([`Claim`]). The lock says "its owner is alive": Postgres drops it
//!   when the owner's connection ends, whatever killed the process.
//! - A row found `in_progress` by whoever holds the lock was left by an attempt that died or
//!   gave up with an unknown outcome ([`Previous::Unfinished`]). Before running the command
//!   again, [`IdempotencyRecords::recover`] waits until every transaction that was running
//!   has ended (so a commit in flight has landed), then looks for the events whose metadata
//!   carries this key: if there are some, the effect happened, at the version they reached.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::time::Instant;

use crate::metadata::{CALLER, IDEMPOTENCY_KEY};

/// First key of the advisory locks taken here (`pg_advisory_xact_lock(int, int)`): keeps
/// them apart from other advisory locks of the database.
const LOCK_NAMESPACE: i32 = 0x1de0_0005;

/// A caller's idempotency key, with the fingerprint of the request it was sent with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    caller: String,
    key: String,
    fingerprint: [u8; 32],
}

impl IdempotencyKey {
    /// `key` as sent by `caller`, for the request with this fingerprint.
    pub fn new(caller: String, key: String, fingerprint: [u8; 32]) -> Self {
        Self {
            caller,
            key,
            fingerprint,
        }
    }

    /// The caller the key belongs to.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Why a key could not be claimed, recovered or completed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was first used for a request with a different fingerprint.
    #[error("the idempotency key was already used for a different request")]
    Reused,
    /// Another attempt with the key held it (or a transaction kept running) for longer than
    /// the wait.
    #[error("a request with the same idempotency key is still in progress")]
    InProgress,
    /// A response status outside the column's range, read or about to be written.
    #[error("invalid response status {0} for idempotency_keys")]
    CorruptStatus(i32),
    /// The events of the key reached a version that is no version.
    #[error("the events of an idempotency key reached an invalid version {0}")]
    CorruptVersion(i64),
    /// Postgres failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What an earlier attempt with the same key left.
#[derive(Debug, Clone, PartialEq)]
pub enum Previous {
    /// Nothing: this is the first attempt (now recorded `in_progress`).
    Nothing,
    /// An attempt that ended without a final answer (crashed, cancelled, or failed with an
    /// unknown outcome): its effect may or may not have happened.
    Unfinished,
    /// The final answer.
    Completed {
        /// Its status.
        status: u16,
        /// Its body.
        body: Value,
    },
}

/// The `idempotency_keys` table, and how long a duplicate waits for the attempt in progress.
#[derive(Debug, Clone)]
pub struct IdempotencyRecords {
    pool: PgPool,
    wait: Duration,
    poll: Duration,
}

/// The lock on a key, held until the answer is recorded or the claim released.
#[derive(Debug)]
pub struct Claim {
    lock: Transaction<'static, Postgres>,
    key: IdempotencyKey,
}

impl IdempotencyRecords {
    /// Keys in `pool`; a duplicate of a request in progress waits up to `wait` for it.
    pub fn new(pool: PgPool, wait: Duration) -> Self {
        Self {
            pool,
            wait,
            poll: Duration::from_millis(25),
        }
    }

    /// Takes the key's lock, waiting (bounded) while another attempt holds it, and reads
    /// what an earlier attempt left (recording a first attempt durably at once).
    #[tracing::instrument(skip_all)]
    pub async fn claim(&self, key: &IdempotencyKey) -> Result<(Claim, Previous), IdempotencyError> {
        let started = Instant::now();
        loop {
            let mut lock = self.pool.begin().await?;
            if try_lock(&mut lock, key).await? {
                let previous = self.previous(&mut lock, key).await?;
                let key = key.clone();
                return Ok((Claim { lock, key }, previous));
            }
            lock.rollback().await?;
            // Someone else is at it: a different request under the same key is refused now.
            let row = read(&mut *self.pool.acquire().await?, key).await?;
            if row.is_some_and(|row| row.fingerprint != key.fingerprint) {
                return Err(IdempotencyError::Reused);
            }
            if started.elapsed() >= self.wait {
                return Err(IdempotencyError::InProgress);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Reads the key's row under its lock, recording a first attempt durably at once.
    async fn previous(
        &self,
        lock: &mut PgConnection,
        key: &IdempotencyKey,
    ) -> Result<Previous, IdempotencyError> {
        let Some(row) = read(lock, key).await? else {
            // Committed now, outside the lock's transaction: if this attempt dies, the next
            // one must know that an effect may have happened.
            sqlx::query(
                "INSERT INTO idempotency_keys (caller, idempotency_key, request_hash, status)
                 VALUES ($1, $2, $3, 'in_progress')",
            )
            .bind(&key.caller)
            .bind(&key.key)
            .bind(key.fingerprint.as_slice())
            .execute(&self.pool)
            .await?;
            return Ok(Previous::Nothing);
        };
        if row.fingerprint != key.fingerprint {
            return Err(IdempotencyError::Reused);
        }
        Ok(match (row.status, row.body) {
            (Some(status), Some(body)) => Previous::Completed { status, body },
            _ => Previous::Unfinished,
        })
    }

    /// After an unfinished attempt: the version the events of the key reached on the
    /// aggregate, if it wrote any.
    #[tracing::instrument(skip_all, fields(aggregate_id = %aggregate_id))]
    pub async fn recover(
        &self,
        key: &IdempotencyKey,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<u64>, IdempotencyError> {
        self.wait_for_running_transactions().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT max(sequence) FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2
               AND metadata ->> $3 = $4 AND metadata ->> $5 = $6",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(IDEMPOTENCY_KEY)
        .bind(&key.key)
        .bind(CALLER)
        .bind(&key.caller)
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(
            found = version.is_some(),
            "recovering an unfinished idempotent request"
        );
        version
            .map(|v| u64::try_from(v).map_err(|_| IdempotencyError::CorruptVersion(v)))
            .transpose()
    }

    /// Waits until every transaction running now has ended: the dead attempt's event write,
    /// if it got that far, is then committed or rolled back for good.
    async fn wait_for_running_transactions(&self) -> Result<(), IdempotencyError> {
        let started = Instant::now();
        let horizon: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
                .fetch_one(&self.pool)
                .await?;
        loop {
            let ended: bool = sqlx::query_scalar(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8",
            )
            .bind(&horizon)
            .fetch_one(&self.pool)
            .await?;
            if ended {
                return Ok(());
            }
            if started.elapsed() >= self.wait {
                return Err(IdempotencyError::InProgress);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

impl Claim {
    /// Records the final answer and releases the lock, in one commit.
    pub async fn complete(mut self, status: u16, body: &Value) -> Result<(), IdempotencyError> {
        let status = i16::try_from(status)
            .map_err(|_| IdempotencyError::CorruptStatus(i32::from(status)))?;
        sqlx::query(
            "UPDATE idempotency_keys
             SET status = 'completed', response_status = $3, response_body = $4,
                 completed_at = now()
             WHERE caller = $1 AND idempotency_key = $2",
        )
        .bind(&self.key.caller)
        .bind(&self.key.key)
        .bind(status)
        .bind(body)
        .execute(&mut *self.lock)
        .await?;
        self.lock.commit().await?;
        Ok(())
    }

    /// Releases the lock without recording anything (the answer was already recorded).
    pub async fn release(self) -> Result<(), IdempotencyError> {
        self.lock.rollback().await?;
        Ok(())
    }
}

async fn try_lock(lock: &mut PgConnection, key: &IdempotencyKey) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2 || E'\\n' || $3))")
        .bind(LOCK_NAMESPACE)
        .bind(&key.caller)
        .bind(&key.key)
        .fetch_one(lock)
        .await
}

/// A key's row.
struct Row {
    fingerprint: Vec<u8>,
    status: Option<u16>,
    body: Option<Value>,
}

async fn read(
    connection: &mut PgConnection,
    key: &IdempotencyKey,
) -> Result<Option<Row>, IdempotencyError> {
    let row: Option<(Vec<u8>, Option<i16>, Option<Value>)> = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys
         WHERE caller = $1 AND idempotency_key = $2",
    )
    .bind(&key.caller)
    .bind(&key.key)
    .fetch_optional(connection)
    .await?;
    let Some((fingerprint, status, body)) = row else {
        return Ok(None);
    };
    let status = status
        .map(|code| {
            u16::try_from(code).map_err(|_| IdempotencyError::CorruptStatus(i32::from(code)))
        })
        .transpose()?;
    Ok(Some(Row {
        fingerprint,
        status,
        body,
    }))
}
