//! `Idempotency-Key`: a retried request takes effect at most once and is answered as the
//! first time. The design and its failure cases are in docs/adr/0005; the records (the
//! `idempotency_keys` table, its locks and the recovery of an unfinished attempt) are the
//! event store's ([`causeway_event_store::idempotency`]). What is HTTP stays here: which
//! answers are final, and replaying a stored one as a response.

use std::future::Future;

use axum::http::StatusCode;
use causeway_event_store::idempotency::{IdempotencyError, IdempotencyRecords, Previous};

pub(crate) use causeway_event_store::idempotency::IdempotencyKey;

use super::answer::{Answer, Target};
use super::error::ApiError;

/// Runs a command at most once per idempotency key, answering as its first complete run.
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyStore {
    records: IdempotencyRecords,
}

impl IdempotencyStore {
    /// Over the event store's idempotency records.
    pub(crate) fn new(records: IdempotencyRecords) -> Self {
        Self { records }
    }

    /// Runs `execute` (which answers the aggregate's new version) at most once for the key,
    /// and answers what its first complete run answered.
    pub(crate) async fn run<F, Fut>(
        &self,
        request: &IdempotencyKey,
        target: &Target,
        execute: F,
    ) -> Result<Answer, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, ApiError>>,
    {
        let (claim, previous) = self.records.claim(request).await?;
        let outcome = match previous {
            Previous::Completed { status, body } => {
                let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
                claim.release().await?;
                return Ok(Answer::replayed(status, body));
            }
            Previous::Nothing => execute().await,
            Previous::Unfinished => {
                let recovered =
                    self.records
                        .recover(request, target.aggregate_type, &target.aggregate_id);
                match recovered.await? {
                    Some(version) => Ok(version),
                    None => execute().await,
                }
            }
        };
        let answer = match outcome {
            Ok(version) => target.answer(version),
            Err(error) if error.is_final() => error.to_answer(),
            // Unknown or transient outcome: the row stays in progress, the next try recovers.
            Err(error) => return Err(error),
        };
        claim
            .complete(answer.status().as_u16(), answer.body())
            .await?;
        Ok(answer)
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::Reused => Self::IdempotencyKeyReused,
            IdempotencyError::InProgress => Self::RequestInProgress,
            other => Self::internal(other),
        }
    }
}
