//! Keyset pagination: `limit` (default 50, at most 500) and an opaque `cursor` that names the
//! last row of the previous page, so a page never skips nor repeats a row however many rows
//! arrive meanwhile (unlike `OFFSET`).
//!
//! A cursor is the hex of `v1` and the row's key parts, separated by `|`: opaque to clients,
//! checked on the way in (a cursor that does not decode is a 400 naming `cursor`).

use std::collections::HashMap;

use serde::Serialize;

use crate::QueryError;

/// The query parameter of the page size.
pub(crate) const LIMIT: &str = "limit";
/// The query parameter of the cursor.
pub(crate) const CURSOR: &str = "cursor";
/// The page size when none is asked.
pub(crate) const DEFAULT_LIMIT: i64 = 50;
/// The largest page size.
pub(crate) const MAX_LIMIT: i64 = 500;

const VERSION: &str = "v1";

/// The page parameters (documentation only: read by [`limit`] and [`cursor`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only
pub(crate) struct PageQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque).
    cursor: Option<String>,
}

/// One page of a list, and the cursor of the next one (absent on the last page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows read: the extra row only says there is more.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Vec<String>) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next_cursor = more
            .then(|| rows.last().map(|last| encode(&key(last))))
            .flatten();
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// The page size asked, within bounds.
pub(crate) fn limit(query: &HashMap<String, String>) -> Result<i64, QueryError> {
    let Some(text) = query.get(LIMIT) else {
        return Ok(DEFAULT_LIMIT);
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or(QueryError::BadParameter {
            name: LIMIT,
            reason: "must be an integer from 1 to 500",
        })
}

/// The key parts of the cursor asked (`parts` of them), if any.
pub(crate) fn cursor(
    query: &HashMap<String, String>,
    parts: usize,
) -> Result<Option<Vec<String>>, QueryError> {
    query
        .get(CURSOR)
        .map(|text| {
            decode(text)
                .filter(|p| p.len() == parts)
                .ok_or(QueryError::BadParameter {
                    name: CURSOR,
                    reason: "is not a cursor this API issued",
                })
        })
        .transpose()
}

/// The opaque cursor of a row with these key parts.
pub(crate) fn encode(parts: &[String]) -> String {
    let text = std::iter::once(VERSION)
        .chain(parts.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("|");
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The key parts of a cursor, or `None` when it is not one.
pub(crate) fn decode(cursor: &str) -> Option<Vec<String>> {
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('|');
    (parts.next()? == VERSION).then(|| parts.map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_cursor_decodes_to_the_parts_it_was_encoded_from() {
        let parts = vec!["1764460800123456".to_owned(), "0b5f6bd6-6c1f".to_owned()];
        let cursor = encode(&parts);
        assert!(cursor.bytes().all(|b| b.is_ascii_hexdigit()), "{cursor}");
        assert_eq!(decode(&cursor), Some(parts.clone()));
        let asked = super::cursor(&query(&[("cursor", &cursor)]), 2).unwrap();
        assert_eq!(asked, Some(parts));
    }

    #[test]
    fn anything_else_is_refused_naming_the_cursor() {
        let wrong_arity = encode(&["1".to_owned()]);
        for text in ["zz", "abc", "", "7631", &wrong_arity, "é"] {
            match super::cursor(&query(&[("cursor", text)]), 2) {
                Err(QueryError::BadParameter { name, .. }) => assert_eq!(name, "cursor"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        assert_eq!(super::cursor(&query(&[]), 2).unwrap(), None);
    }

    #[test]
    fn the_limit_defaults_to_50_and_is_bounded_to_1_through_500() {
        assert_eq!(limit(&query(&[])).unwrap(), 50);
        assert_eq!(limit(&query(&[("limit", "500")])).unwrap(), 500);
        assert_eq!(limit(&query(&[("limit", "1")])).unwrap(), 1);
        for bad in ["0", "501", "-3", "ten"] {
            match limit(&query(&[("limit", bad)])) {
                Err(QueryError::BadParameter { name, .. }) => assert_eq!(name, "limit"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_page_keeps_limit_rows_and_a_cursor_only_when_there_is_more() {
        let key = |n: &i32| vec![n.to_string()];
        let full = Page::from_rows(vec![1, 2, 3], 2, key);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(
            decode(full.next_cursor.as_deref().unwrap()),
            Some(vec!["2".to_owned()])
        );
        let last = Page::from_rows(vec![1, 2], 2, key);
        assert_eq!(last.next_cursor, None);
    }
}
