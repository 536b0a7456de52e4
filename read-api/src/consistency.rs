//! Consistency tokens: a client that wrote version N of an aggregate asks for
//! `?min_version=N` (or `X-Consistency-Token: N`) and the query waits, bounded, until the read
//! model has applied it. Past the bound it answers 503 `read_model_behind`, never stale data.

use std::collections::HashMap;
use std::future::Future;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::{QueryError, ReadApiConfig};

/// The query parameter.
pub(crate) const MIN_VERSION: &str = "min_version";
/// The header, used when the parameter is absent.
pub(crate) const TOKEN_HEADER: &str = "x-consistency-token";

/// The version asked for, if any.
pub(crate) fn min_version(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<i64>, QueryError> {
    if let Some(value) = query.get(MIN_VERSION) {
        return parse(value, MIN_VERSION).map(Some);
    }
    match headers.get(TOKEN_HEADER) {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(|_| bad(TOKEN_HEADER))?;
            parse(text, TOKEN_HEADER).map(Some)
        }
    }
}

fn parse(text: &str, name: &'static str) -> Result<i64, QueryError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| bad(name))
}

fn bad(name: &'static str) -> QueryError {
    QueryError::BadParameter {
        name,
        reason: "must be a non-negative integer",
    }
}

/// `min_version` (documentation only: read by [`min_version`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only
pub(crate) struct MinVersionQuery {
    /// Wait (bounded) until the read model has applied this version of the aggregate: the
    /// version a command answered.
    #[param(minimum = 0)]
    min_version: Option<i64>,
}

/// `X-Consistency-Token` (documentation only: read by [`min_version`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only
pub(crate) struct ConsistencyHeader {
    /// Like `min_version`, used when the parameter is absent.
    #[param(rename = "X-Consistency-Token", minimum = 0)]
    consistency_token: Option<i64>,
}

/// What a versioned read is about: the read model, the kind of thing, its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) model: &'static str,
    pub(crate) what: &'static str,
    pub(crate) id: &'a str,
}

/// One row by id, honouring `min_version` / `X-Consistency-Token`: the row, or 404 when there
/// is none, or 503 when it has not reached the version asked within the wait.
pub(crate) async fn read_versioned<T, F, Fut>(
    config: &ReadApiConfig,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    subject: Subject<'_>,
    version_of: impl Fn(&T) -> i64,
    fetch: F,
) -> Result<T, QueryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, QueryError>>,
{
    let wanted = min_version(query, headers)?;
    let behind = |applied, wanted| QueryError::Behind {
        model: subject.model,
        id: subject.id.to_owned(),
        applied,
        wanted,
    };
    read_at_least(config, wanted, version_of, behind, fetch)
        .await?
        .ok_or_else(|| QueryError::NotFound {
            what: subject.what,
            id: subject.id.to_owned(),
        })
}

/// An answer carrying `version` as its consistency token.
pub(crate) fn versioned(version: i64, body: impl IntoResponse) -> Response {
    ([(TOKEN_HEADER, version.to_string())], body).into_response()
}

/// Reads with `fetch` until the row's version (`version_of`) reaches `wanted`, or the wait
/// ends. Without `wanted` it reads once. Answers the row, `None` when there is none and
/// nothing was asked, or [`QueryError::Behind`].
pub(crate) async fn read_at_least<T, F, Fut>(
    config: &ReadApiConfig,
    wanted: Option<i64>,
    version_of: impl Fn(&T) -> i64,
    behind: impl Fn(i64, i64) -> QueryError,
    mut fetch: F,
) -> Result<Option<T>, QueryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, QueryError>>,
{
    let Some(wanted) = wanted else {
        return fetch().await;
    };
    let deadline = Instant::now() + config.consistency_wait;
    loop {
        let row = fetch().await?;
        let applied = row.as_ref().map_or(0, &version_of);
        if applied >= wanted {
            return Ok(row);
        }
        if Instant::now() >= deadline {
            return Err(behind(applied, wanted));
        }
        tokio::time::sleep(config.consistency_poll).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    use axum::http::HeaderValue;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn config() -> ReadApiConfig {
        ReadApiConfig {
            consistency_wait: Duration::from_millis(200),
            consistency_poll: Duration::from_millis(10),
            jaeger_ui_url: None,
        }
    }

    #[test]
    fn the_query_parameter_wins_over_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(TOKEN_HEADER, HeaderValue::from_static("9"));
        let wanted = min_version(&query(&[("min_version", "4")]), &headers).unwrap();
        assert_eq!(wanted, Some(4));
        assert_eq!(min_version(&query(&[]), &headers).unwrap(), Some(9));
        assert_eq!(min_version(&query(&[]), &HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn a_malformed_token_is_rejected_naming_where_it_came_from() {
        for (pairs, header, name) in [
            (vec![("min_version", "-1")], None, MIN_VERSION),
            (vec![("min_version", "soon")], None, MIN_VERSION),
            (vec![], Some("x"), TOKEN_HEADER),
        ] {
            let mut headers = HeaderMap::new();
            if let Some(value) = header {
                headers.insert(TOKEN_HEADER, HeaderValue::from_static(value));
            }
            match min_version(&query(&pairs), &headers) {
                Err(QueryError::BadParameter { name: got, .. }) => assert_eq!(got, name),
                other => panic!("expected a bad parameter, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_wait_ends_as_soon_as_the_version_is_reached() {
        let version = Arc::new(AtomicI64::new(0));
        let seen = version.clone();
        let row = read_at_least(
            &config(),
            Some(3),
            |v: &i64| *v,
            behind,
            || {
                let v = seen.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(Some(v)) }
            },
        )
        .await
        .unwrap();
        assert_eq!(row, Some(3));
    }

    #[tokio::test]
    async fn a_version_that_never_arrives_is_answered_behind_not_stale() {
        let result = read_at_least(
            &config(),
            Some(5),
            |v: &i64| *v,
            behind,
            || async { Ok(Some(2)) },
        )
        .await;
        match result {
            Err(QueryError::Behind {
                applied, wanted, ..
            }) => assert_eq!((applied, wanted), (2, 5)),
            other => panic!("expected behind, got {other:?}"),
        }
    }

    fn behind(applied: i64, wanted: i64) -> QueryError {
        QueryError::Behind {
            model: "test",
            id: "x".into(),
            applied,
            wanted,
        }
    }
}
