//! `Idempotency-Key`: a retried request takes effect at most once and is answered as the
//! first time. The design and its failure cases are in docs/adr/0005.
//!
//! - A key is scoped by caller; its row in `idempotency_keys` holds the request fingerprint
//!   (method, path, body), `in_progress` or `completed`, and the final answer.
//! - All work on a key happens while holding a transaction-scoped advisory lock on it, on a
//!   connection of its own. The lock says "its owner is alive": Postgres drops it when the
//!   owner's connection ends, whatever killed the process.
//! - A row found `in_progress` by whoever holds the lock was left by an attempt that died or
//!   gave up with an unknown outcome. Before running the command again, recovery waits until
//!   every transaction that was running has ended (so a commit in flight has landed), then
//!   looks for the events whose metadata carries this key: if there are some, the effect
//!   happened and the answer is rebuilt from them.

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::time::Instant;

use super::answer::{Answer, Target};
use super::error::ApiError;
use crate::store::metadata::{CALLER, IDEMPOTENCY_KEY};

/// First key of the advisory locks taken here (`pg_advisory_xact_lock(int, int)`): keeps
/// them apart from other advisory locks of the database.
const LOCK_NAMESPACE: i32 = 0x1de0_0005;

/// A request that carries an idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct IdempotentRequest {
    caller: String,
    key: String,
    fingerprint: [u8; 32],
}

impl IdempotentRequest {
    /// `key` as sent by `caller`, for the request with this fingerprint.
    pub(crate) fn new(caller: String, key: String, fingerprint: [u8; 32]) -> Self {
        Self {
            caller,
            key,
            fingerprint,
        }
    }

    /// The caller the key belongs to.
    pub(crate) fn caller(&self) -> &str {
        &self.caller
    }

    /// The key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// The keys' table, and how long a duplicate waits for the attempt in progress.
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyStore {
    pool: PgPool,
    wait: Duration,
    poll: Duration,
}

/// What an earlier attempt with the same key left.
enum Previous {
    /// Nothing: this is the first attempt.
    Nothing,
    /// An attempt that ended without a final answer (crashed, cancelled, or failed with an
    /// unknown outcome): its effect may or may not have happened.
    Unfinished,
    /// The final answer.
    Completed(Answer),
}

/// The lock on a key, held until the answer is recorded.
struct Claim {
    lock: Transaction<'static, Postgres>,
    previous: Previous,
}

impl IdempotencyStore {
    /// Keys in `pool`; a duplicate of a request in progress waits up to `wait` for it.
    pub(crate) fn new(pool: PgPool, wait: Duration) -> Self {
        Self {
            pool,
            wait,
            poll: Duration::from_millis(25),
        }
    }

    /// Runs `execute` (which answers the aggregate's new version) at most once for the key,
    /// and answers what its first complete run answered.
    pub(crate) async fn run<F, Fut>(
        &self,
        request: &IdempotentRequest,
        target: &Target,
        execute: F,
    ) -> Result<Answer, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, ApiError>>,
    {
        let claim = self.claim(request).await?;
        let outcome = match claim.previous {
            Previous::Completed(answer) => {
                claim.lock.rollback().await?;
                return Ok(answer);
            }
            Previous::Nothing => execute().await,
            Previous::Unfinished => match self.recover(request, target).await? {
                Some(version) => Ok(version),
                None => execute().await,
            },
        };
        let answer = match outcome {
            Ok(version) => target.answer(version),
            Err(error) if error.is_final() => error.to_answer(),
            // Unknown or transient outcome: the row stays in progress, the next try recovers.
            Err(error) => return Err(error),
        };
        complete(claim.lock, request, &answer).await?;
        Ok(answer)
    }

    /// Takes the key's lock, waiting (bounded) while another attempt holds it.
    #[tracing::instrument(skip_all)]
    async fn claim(&self, request: &IdempotentRequest) -> Result<Claim, ApiError> {
        let started = Instant::now();
        loop {
            let mut lock = self.pool.begin().await?;
            if try_lock(&mut lock, request).await? {
                let previous = self.previous(&mut lock, request).await?;
                return Ok(Claim { lock, previous });
            }
            lock.rollback().await?;
            // Someone else is at it: a different request under the same key is refused now.
            let row = read(&mut *self.pool.acquire().await?, request).await?;
            if row.is_some_and(|row| row.fingerprint != request.fingerprint) {
                return Err(ApiError::IdempotencyKeyReused);
            }
            if started.elapsed() >= self.wait {
                return Err(ApiError::RequestInProgress);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Reads the key's row under its lock, recording a first attempt durably at once.
    async fn previous(
        &self,
        lock: &mut PgConnection,
        request: &IdempotentRequest,
    ) -> Result<Previous, ApiError> {
        let Some(row) = read(lock, request).await? else {
            // Committed now, outside the lock's transaction: if this attempt dies, the next
            // one must know that an effect may have happened.
            sqlx::query(
                "INSERT INTO idempotency_keys (caller, idempotency_key, request_hash, status)
                 VALUES ($1, $2, $3, 'in_progress')",
            )
            .bind(&request.caller)
            .bind(&request.key)
            .bind(request.fingerprint.as_slice())
            .execute(&self.pool)
            .await?;
            return Ok(Previous::Nothing);
        };
        if row.fingerprint != request.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Ok(match (row.status, row.body) {
            (Some(status), Some(body)) => Previous::Completed(Answer::replayed(status, body)),
            _ => Previous::Unfinished,
        })
    }

    /// After an unfinished attempt: the version its events reached, if it wrote any.
    #[tracing::instrument(skip_all, fields(aggregate_id = %target.aggregate_id))]
    async fn recover(
        &self,
        request: &IdempotentRequest,
        target: &Target,
    ) -> Result<Option<u64>, ApiError> {
        self.wait_for_running_transactions().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT max(sequence) FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2
               AND metadata ->> $3 = $4 AND metadata ->> $5 = $6",
        )
        .bind(target.aggregate_type)
        .bind(&target.aggregate_id)
        .bind(IDEMPOTENCY_KEY)
        .bind(&request.key)
        .bind(CALLER)
        .bind(&request.caller)
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(
            found = version.is_some(),
            "recovering an unfinished idempotent request"
        );
        version
            .map(|v| u64::try_from(v).map_err(ApiError::internal))
            .transpose()
    }

    /// Waits until every transaction running now has ended: the dead attempt's event write,
    /// if it got that far, is then committed or rolled back for good.
    async fn wait_for_running_transactions(&self) -> Result<(), ApiError> {
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
                return Err(ApiError::RequestInProgress);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

async fn try_lock(lock: &mut PgConnection, request: &IdempotentRequest) -> Result<bool, ApiError> {
    Ok(
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2 || E'\\n' || $3))")
            .bind(LOCK_NAMESPACE)
            .bind(&request.caller)
            .bind(&request.key)
            .fetch_one(lock)
            .await?,
    )
}

/// A key's row.
struct Row {
    fingerprint: Vec<u8>,
    status: Option<StatusCode>,
    body: Option<Value>,
}

async fn read(
    connection: &mut PgConnection,
    request: &IdempotentRequest,
) -> Result<Option<Row>, ApiError> {
    let row: Option<(Vec<u8>, Option<i16>, Option<Value>)> = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys
         WHERE caller = $1 AND idempotency_key = $2",
    )
    .bind(&request.caller)
    .bind(&request.key)
    .fetch_optional(connection)
    .await?;
    let Some((fingerprint, status, body)) = row else {
        return Ok(None);
    };
    let status = status
        .map(|code| {
            u16::try_from(code)
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| ApiError::internal(CorruptRow(code)))
        })
        .transpose()?;
    Ok(Some(Row {
        fingerprint,
        status,
        body,
    }))
}

/// Records the final answer and releases the lock, in one commit.
async fn complete(
    mut lock: Transaction<'static, Postgres>,
    request: &IdempotentRequest,
    answer: &Answer,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE idempotency_keys
         SET status = 'completed', response_status = $3, response_body = $4, completed_at = now()
         WHERE caller = $1 AND idempotency_key = $2",
    )
    .bind(&request.caller)
    .bind(&request.key)
    .bind(i16::try_from(answer.status().as_u16()).map_err(ApiError::internal)?)
    .bind(answer.body())
    .execute(&mut *lock)
    .await?;
    lock.commit().await?;
    Ok(())
}

/// A stored status that is no HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("idempotency_keys holds an invalid response status {0}")]
struct CorruptRow(i16);
