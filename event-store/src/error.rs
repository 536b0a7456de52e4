//! [`StoreError`], the one error type of the event store layer, and its mapping to and from
//! cqrs-es' error types.

use cqrs_es::AggregateError;
use cqrs_es::persist::PersistenceError;

/// The SQLSTATE of a unique violation: two writers stored the same aggregate sequence.
const UNIQUE_VIOLATION: &str = "23505";

/// Anything that can go wrong while storing or loading events, besides a business rejection.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer stored events of the aggregate (or its snapshot) since it was loaded;
    /// nothing of this write was stored. Reload and decide again.
    #[error("optimistic concurrency conflict: the aggregate changed since it was loaded")]
    Conflict,
    /// A Postgres call failed.
    #[error("event store database error")]
    Database(#[source] sqlx::Error),
    /// A stored payload, metadata or snapshot does not fit its Rust type, or a value could
    /// not be serialised.
    #[error("event store (de)serialisation error")]
    Serialization(#[from] serde_json::Error),
    /// A value is outside what the store can represent (e.g. a negative stored sequence,
    /// or a snapshot asked of a repository that takes none).
    #[error("invalid event store data: {0}")]
    Invalid(String),
    /// The framework reported an error this layer did not originate.
    #[error("event store failure")]
    Framework(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl StoreError {
    /// Whether this is an optimistic-lock conflict (worth a reload and retry).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let unique_violation = error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == UNIQUE_VIOLATION);
        if unique_violation {
            Self::Conflict
        } else {
            Self::Database(error)
        }
    }
}

impl From<StoreError> for PersistenceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::OptimisticLockError,
            // cqrs-es falls back to a full replay on a snapshot DeserializationError, so
            // only serde failures are reported as one; the original error rides in the box.
            StoreError::Serialization(_) => Self::DeserializationError(Box::new(error)),
            StoreError::Database(_) => Self::ConnectionError(Box::new(error)),
            StoreError::Invalid(_) | StoreError::Framework(_) => {
                Self::UnknownError(Box::new(error))
            }
        }
    }
}

impl<T: std::error::Error> From<AggregateError<T>> for StoreError {
    /// Recovers the original [`StoreError`] that travelled through cqrs-es in a box.
    ///
    /// A `UserError` never reaches this conversion: the executor takes rejections from the
    /// pure `decide`, not from cqrs-es.
    fn from(error: AggregateError<T>) -> Self {
        match error {
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DatabaseConnectionError(boxed)
            | AggregateError::DeserializationError(boxed)
            | AggregateError::UnexpectedError(boxed) => unbox(boxed),
            AggregateError::UserError(user) => Self::Framework(user.to_string().into()),
        }
    }
}

fn unbox(boxed: Box<dyn std::error::Error + Send + Sync + 'static>) -> StoreError {
    match boxed.downcast::<StoreError>() {
        Ok(store) => *store,
        Err(other) => match other.downcast::<serde_json::Error>() {
            Ok(serde) => StoreError::Serialization(*serde),
            Err(other) => StoreError::Framework(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_survives_the_trip_through_cqrs_es_errors() {
        let persistence = PersistenceError::from(StoreError::Invalid("sequence -1".to_owned()));
        let aggregate = AggregateError::<std::fmt::Error>::from(persistence);
        let back = StoreError::from(aggregate);
        assert!(
            matches!(back, StoreError::Invalid(ref m) if m == "sequence -1"),
            "{back:?}"
        );
    }

    #[test]
    fn a_conflict_maps_to_cqrs_es_optimistic_lock_and_back() {
        let persistence = PersistenceError::from(StoreError::Conflict);
        assert!(matches!(persistence, PersistenceError::OptimisticLockError));
        let back = StoreError::from(AggregateError::<std::fmt::Error>::from(persistence));
        assert!(back.is_conflict());
    }

    #[test]
    fn a_serde_error_from_cqrs_es_becomes_a_serialization_error() {
        let serde = serde_json::from_str::<u8>("\"x\"").expect_err("not a number");
        let back = StoreError::from(AggregateError::<std::fmt::Error>::from(serde));
        assert!(matches!(back, StoreError::Serialization(_)), "{back:?}");
    }
}
