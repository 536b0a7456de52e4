//! FULL compatibility of two versions of a schema, checked with apache-avro's
//! `schema_compatibility`: the new version reads what the old one wrote (backward) and the
//! old one reads what the new one writes (forward). Checking a new version against *every*
//! earlier one makes it FULL_TRANSITIVE, the level the registry enforces (ADR 0004).
//!
//! Named references (`"causeway.values.Money"` after its first definition) are inlined
//! first: apache-avro compares two references by name only, and a reference on one side
//! against a definition on the other as different types, so a field reordering that moves
//! the definition would read as incompatible while a change inside it would go unnoticed.

use apache_avro::Schema;
use apache_avro::error::CompatibilityError;
use apache_avro::schema::{Name, Names, UnionSchema};
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use causeway_infra::avro::named_types;

/// Why a new version of a schema is not FULL-compatible with an earlier one; every
/// direction that fails, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct Incompatibility {
    /// One sentence per failing direction.
    pub problems: Vec<String>,
}

/// Checks that `new` and `old` can each read what the other writes.
pub fn check_full(old: &Schema, new: &Schema) -> Result<(), Incompatibility> {
    let old = inline(old);
    let new = inline(new);
    let problems: Vec<String> = [
        direction(
            &old,
            &new,
            "the new schema cannot read events written with the earlier one",
        ),
        direction(
            &new,
            &old,
            "consumers of the earlier schema cannot read events written with the new one",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Incompatibility { problems })
    }
}

/// Parses both versions (JSON text) and checks them with [`check_full`].
pub fn check_full_str(old: &str, new: &str) -> Result<(), Incompatibility> {
    let parse = |text: &str, which: &str| {
        Schema::parse_str(text).map_err(|e| Incompatibility {
            problems: vec![format!(
                "the {which} version is not a valid Avro schema: {e}"
            )],
        })
    };
    check_full(&parse(old, "earlier")?, &parse(new, "new")?)
}

fn direction(writer: &Schema, reader: &Schema, failure: &str) -> Option<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => Some(format!(
            "{failure} in every case: an enum symbol or union branch of the writer is missing in the reader"
        )),
        Err(error) => Some(format!("{failure}: {}", explain(&error))),
    }
}

/// The error without apache-avro's schema dumps: `field amount: field currency: writer type
/// String, reader type Long`.
fn explain(error: &CompatibilityError) -> String {
    match error {
        CompatibilityError::FieldTypeMismatch(field, inner) => {
            format!("field {field}: {}", explain(inner))
        }
        CompatibilityError::MissingDefaultValue(field) => {
            format!("field {field} is missing in the writer and has no default in the reader")
        }
        CompatibilityError::WrongType {
            writer_schema_type,
            reader_schema_type,
        } => format!(
            "writer type {}, reader type {}",
            first_word(writer_schema_type),
            first_word(reader_schema_type)
        ),
        other => other.to_string(),
    }
}

fn first_word(debug: &str) -> &str {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .find(|word| !word.is_empty())
        .unwrap_or(debug)
}

fn inline(schema: &Schema) -> Schema {
    match named_types(schema) {
        Ok(names) => inline_references(schema, &names),
        // An unresolvable reference fails the comparison itself with a clearer message.
        Err(_) => schema.clone(),
    }
}

/// `schema` with every named reference replaced by its definition from `names` (a reference
/// to an enclosing type, i.e. a recursive type, stays a reference).
pub fn inline_references(schema: &Schema, names: &Names) -> Schema {
    Inliner {
        names,
        enclosing: Vec::new(),
    }
    .inline(schema)
}

struct Inliner<'a> {
    names: &'a Names,
    enclosing: Vec<Name>,
}

impl Inliner<'_> {
    fn inline(&mut self, schema: &Schema) -> Schema {
        match schema {
            Schema::Ref { name } if !self.enclosing.contains(name) => match self.names.get(name) {
                Some(definition) => self.inline(definition),
                None => schema.clone(),
            },
            Schema::Record(record) => {
                let mut record = record.clone();
                self.enclosing.push(record.name.clone());
                for field in &mut record.fields {
                    field.schema = self.inline(&field.schema);
                }
                self.enclosing.pop();
                Schema::Record(record)
            }
            Schema::Array(array) => {
                let mut array = array.clone();
                array.items = Box::new(self.inline(&array.items));
                Schema::Array(array)
            }
            Schema::Map(map) => {
                let mut map = map.clone();
                map.types = Box::new(self.inline(&map.types));
                Schema::Map(map)
            }
            Schema::Union(union) => {
                let variants = union.variants().iter().map(|v| self.inline(v)).collect();
                UnionSchema::new(variants).map_or_else(|_| schema.clone(), Schema::Union)
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn thing(fields: &str) -> String {
        format!(r#"{{"type":"record","name":"Thing","namespace":"t","fields":[{fields}]}}"#)
    }

    const A: &str = r#"{"name":"a","type":"string"}"#;

    #[test]
    fn an_added_optional_field_is_fully_compatible() {
        let new = thing(&format!(
            r#"{A},{{"name":"b","type":["null","long"],"default":null}}"#
        ));
        assert_eq!(check_full_str(&thing(A), &new), Ok(()));
    }

    #[test]
    fn an_added_field_without_default_breaks_backward_compatibility() {
        let new = thing(&format!(r#"{A},{{"name":"b","type":"long"}}"#));
        let error = check_full_str(&thing(A), &new).unwrap_err();
        assert_eq!(
            error.problems,
            vec![
                "the new schema cannot read events written with the earlier one: \
                 field b is missing in the writer and has no default in the reader"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn a_changed_field_type_breaks_both_directions() {
        let error = check_full_str(&thing(A), &thing(r#"{"name":"a","type":"long"}"#)).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(
            error.problems[0].ends_with("field a: writer type String, reader type Long"),
            "{error}"
        );
    }

    #[test]
    fn a_removed_enum_symbol_is_only_partially_compatible_and_refused() {
        let kind = |symbols: &str| {
            thing(&format!(
                r#"{{"name":"k","type":{{"type":"enum","name":"K","symbols":[{symbols}]}}}}"#
            ))
        };
        let error = check_full_str(&kind(r#""X","Y""#), &kind(r#""X""#)).unwrap_err();
        assert!(
            error.to_string().contains("enum symbol or union branch"),
            "{error}"
        );
    }

    #[test]
    fn a_change_inside_a_referenced_type_is_seen() {
        let money = |amount: &str| {
            thing(&format!(
                r#"{{"name":"m","type":{{"type":"record","name":"M","fields":[{{"name":"x","type":"{amount}"}}]}}}},
                   {{"name":"n","type":"M"}}"#
            ))
        };
        // Swapping the fields moves the definition to the other one: not a change.
        let swapped = thing(
            r#"{"name":"n","type":{"type":"record","name":"M","fields":[{"name":"x","type":"long"}]}},
               {"name":"m","type":"M"}"#,
        );
        assert!(check_full_str(&money("long"), &money("string")).is_err());
        assert_eq!(check_full_str(&money("long"), &swapped), Ok(()));
    }

    #[test]
    fn fully_compatible_with_the_previous_version_is_not_enough_for_transitive() {
        // v2 gives `a` a default, v3 drops it: each step is FULL, but v1 cannot read v3.
        let v1 = thing(A);
        let v2 = thing(r#"{"name":"a","type":"string","default":"x"}"#);
        let v3 = thing(r#"{"name":"z","type":["null","string"],"default":null}"#);
        assert_eq!(check_full_str(&v1, &v2), Ok(()));
        assert_eq!(check_full_str(&v2, &v3), Ok(()));
        let error = check_full_str(&v1, &v3).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("consumers of the earlier schema"),
            "{error}"
        );
    }
}
