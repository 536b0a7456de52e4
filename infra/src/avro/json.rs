//! The JSON of an event's `data` ⇄ Avro values, directed by the schema.
//!
//! Exact both ways for what event payloads hold (the domain crate's docs, "Event payloads"):
//! records, strings, integers (as `long`), booleans, arrays, enums (as their symbol) and nullable
//! fields (`["null", T]`, JSON `null`). JSON fields the schema does not have are refused
//! rather than dropped, so a Rust event that grew a field cannot lose it silently.

use std::collections::HashMap;
use std::fmt;

use apache_avro::Schema;
use apache_avro::schema::{Names, RecordSchema, SchemaKind, UnionSchema};
use apache_avro::types::Value;
use serde_json::{Map, Number, Value as Json};

/// `json` as an Avro value of `schema`; `names` resolves named references. Errors say where
/// (`data.lines[0].quantity`) and what.
pub(crate) fn to_avro(schema: &Schema, names: &Names, json: &Json) -> Result<Value, String> {
    Converter { names }.value(schema, json, Path::Root("data"))
}

/// Where a value sits in the payload, e.g. `data.lines[0].quantity`. Only written out when
/// an error names it: formatting a path per field cost more than the conversion itself.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(name) => f.write_str(name),
            Self::Field(parent, name) => write!(f, "{parent}.{name}"),
            Self::Item(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

struct Converter<'a> {
    names: &'a Names,
}

impl Converter<'_> {
    fn value(&self, schema: &Schema, json: &Json, path: Path<'_>) -> Result<Value, String> {
        match (schema, json) {
            (Schema::Null, Json::Null) => Ok(Value::Null),
            (Schema::Boolean, Json::Bool(b)) => Ok(Value::Boolean(*b)),
            (Schema::Int, Json::Number(n)) => int(n, path),
            (Schema::Long, Json::Number(n)) => n
                .as_i64()
                .map(Value::Long)
                .ok_or_else(|| format!("{path}: {n} is not a 64-bit integer (Avro long)")),
            (Schema::Double, Json::Number(n)) => n
                .as_f64()
                .map(Value::Double)
                .ok_or_else(|| format!("{path}: {n} is not a double")),
            (Schema::String, Json::String(s)) => Ok(Value::String(s.clone())),
            (Schema::Enum(e), Json::String(s)) => match e.symbols.iter().position(|x| x == s) {
                Some(index) => Ok(Value::Enum(index_u32(index)?, s.clone())),
                None => Err(format!(
                    "{path}: {s:?} is not a symbol of {} ({})",
                    e.name.fullname(None),
                    e.symbols.join(", ")
                )),
            },
            (Schema::Array(a), Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.value(&a.items, item, Path::Item(&path, i)))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (Schema::Map(m), Json::Object(entries)) => entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.value(&m.types, v, Path::Field(&path, k))?)))
                .collect::<Result<HashMap<_, _>, String>>()
                .map(Value::Map),
            (Schema::Record(record), Json::Object(object)) => self.record(record, object, path),
            (Schema::Union(union), _) => self.union(union, json, path),
            (Schema::Ref { name }, _) => match self.names.get(name) {
                Some(schema) => self.value(schema, json, path),
                None => Err(format!("{path}: the schema references unknown type {name}")),
            },
            (
                Schema::Null
                | Schema::Boolean
                | Schema::Int
                | Schema::Long
                | Schema::Double
                | Schema::String
                | Schema::Enum(_)
                | Schema::Array(_)
                | Schema::Map(_)
                | Schema::Record(_),
                _,
            ) => Err(format!(
                "{path}: expected {}, found {}",
                expected(schema),
                kind(json)
            )),
            _ => Err(format!(
                "{path}: schema type {} is not supported for JSON event data",
                expected(schema)
            )),
        }
    }

    fn record(
        &self,
        record: &RecordSchema,
        object: &Map<String, Json>,
        path: Path<'_>,
    ) -> Result<Value, String> {
        if let Some(extra) = object.keys().find(|k| !record.lookup.contains_key(*k)) {
            return Err(format!(
                "{path}.{extra}: not a field of the schema's record {}",
                record.name.fullname(None)
            ));
        }
        let mut fields = Vec::with_capacity(record.fields.len());
        for field in &record.fields {
            let field_path = Path::Field(&path, &field.name);
            let json = match (object.get(&field.name), &field.default) {
                (Some(json), _) => json,
                (None, Some(default)) => default,
                (None, None) => {
                    return Err(format!(
                        "{field_path}: missing, and the schema gives no default"
                    ));
                }
            };
            fields.push((
                field.name.clone(),
                self.value(&field.schema, json, field_path)?,
            ));
        }
        Ok(Value::Record(fields))
    }

    /// The first branch that converts `json`. A branch whose kind cannot hold it is not
    /// tried; only when no branch fits is each one's mismatch written out.
    fn union(&self, union: &UnionSchema, json: &Json, path: Path<'_>) -> Result<Value, String> {
        for (index, variant) in union.variants().iter().enumerate() {
            if self.could_hold(variant, json)
                && let Ok(value) = self.value(variant, json, path)
            {
                return Ok(Value::Union(index_u32(index)?, Box::new(value)));
            }
        }
        let mismatches: Vec<String> = union
            .variants()
            .iter()
            .filter_map(|variant| self.value(variant, json, path).err())
            .collect();
        Err(format!(
            "{path}: fits no branch of the union ({})",
            mismatches.join("; ")
        ))
    }

    /// Whether `schema`'s kind can hold `json`'s at all (a named reference by its target).
    fn could_hold(&self, schema: &Schema, json: &Json) -> bool {
        match (schema, json) {
            (Schema::Ref { name }, _) => self
                .names
                .get(name)
                .is_some_and(|target| self.could_hold(target, json)),
            (Schema::Null, Json::Null)
            | (Schema::Boolean, Json::Bool(_))
            | (Schema::Int | Schema::Long | Schema::Double, Json::Number(_))
            | (Schema::String | Schema::Enum(_), Json::String(_))
            | (Schema::Array(_), Json::Array(_))
            | (Schema::Map(_) | Schema::Record(_), Json::Object(_))
            | (Schema::Union(_), _) => true,
            _ => false,
        }
    }
}

fn int(n: &Number, path: Path<'_>) -> Result<Value, String> {
    n.as_i64()
        .and_then(|i| i32::try_from(i).ok())
        .map(Value::Int)
        .ok_or_else(|| format!("{path}: {n} is not a 32-bit integer (Avro int)"))
}

fn index_u32(index: usize) -> Result<u32, String> {
    u32::try_from(index).map_err(|_| format!("index {index} out of range"))
}

/// An Avro value (as decoded and resolved into the reader schema) as JSON: records become
/// objects in field order, enums their symbol, unions their branch's value.
pub(crate) fn to_json(value: Value, root: &str) -> Result<Json, String> {
    json_of(value, Path::Root(root))
}

fn json_of(value: Value, path: Path<'_>) -> Result<Json, String> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Long(i) => Json::from(i),
        Value::Double(f) => Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| format!("{path}: {f} has no JSON form"))?,
        Value::String(s) | Value::Enum(_, s) => Json::String(s),
        Value::Union(_, inner) => json_of(*inner, path)?,
        Value::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| json_of(item, Path::Item(&path, i)))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Json::Object(object(entries, path)?),
        Value::Record(fields) => Json::Object(object(fields, path)?),
        other => {
            return Err(format!(
                "{path}: Avro value {other:?} has no JSON form for events"
            ));
        }
    })
}

fn object(
    entries: impl IntoIterator<Item = (String, Value)>,
    path: Path<'_>,
) -> Result<Map<String, Json>, String> {
    entries
        .into_iter()
        .map(|(name, value)| {
            let json = json_of(value, Path::Field(&path, &name))?;
            Ok((name, json))
        })
        .collect()
}

fn expected(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("a {} record (JSON object)", r.name.fullname(None)),
        Schema::Enum(e) => format!("a {} symbol (JSON string)", e.name.fullname(None)),
        Schema::Array(_) => "an array".to_owned(),
        Schema::Map(_) => "a map (JSON object)".to_owned(),
        Schema::Long => "a long (integer)".to_owned(),
        Schema::Int => "an int (integer)".to_owned(),
        other => format!("{:?}", SchemaKind::from(other)).to_lowercase(),
    }
}

fn kind(json: &Json) -> String {
    match json {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => format!("boolean {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(_) => "an array".to_owned(),
        Json::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    const SCHEMA: &str = r#"{"type": "record", "name": "Thing", "namespace": "t", "fields": [
        {"name": "n", "type": "long"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "maybe", "type": ["null", {"type": "record", "name": "Inner", "fields": [
            {"name": "flag", "type": "boolean"}]}], "default": null},
        {"name": "again", "type": ["null", "Inner"], "default": null}
    ]}"#;

    fn convert(json: &Json) -> Result<Value, String> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let names = super::super::catalog::named_types(&schema).unwrap();
        to_avro(&schema, &names, json)
    }

    #[test]
    fn json_round_trips_through_an_avro_value() {
        let json =
            json!({"n": -3, "kind": "B", "tags": ["x"], "maybe": {"flag": true}, "again": null});
        let value = convert(&json).unwrap();
        assert_eq!(to_json(value, "data").unwrap(), json);
    }

    #[test]
    fn a_missing_nullable_field_takes_its_default() {
        let value = convert(&json!({"n": 1, "kind": "A", "tags": []})).unwrap();
        let back = to_json(value, "data").unwrap();
        assert_eq!(back["maybe"], Json::Null);
        assert_eq!(back["again"], Json::Null);
    }

    #[test]
    fn a_field_the_schema_lacks_is_refused() {
        let error = convert(&json!({"n": 1, "kind": "A", "tags": [], "extra": 1})).unwrap_err();
        assert_eq!(
            error,
            "data.extra: not a field of the schema's record t.Thing"
        );
    }

    #[test]
    fn a_missing_field_without_default_is_refused() {
        let error = convert(&json!({"kind": "A", "tags": []})).unwrap_err();
        assert_eq!(error, "data.n: missing, and the schema gives no default");
    }

    #[test]
    fn a_wrong_type_names_the_path_and_both_types() {
        let error = convert(&json!({"n": 1, "kind": "A", "tags": [7]})).unwrap_err();
        assert_eq!(error, "data.tags[0]: expected string, found number 7");
        let error = convert(&json!({"n": 1.5, "kind": "A", "tags": []})).unwrap_err();
        assert_eq!(error, "data.n: 1.5 is not a 64-bit integer (Avro long)");
    }

    #[test]
    fn a_union_takes_the_branch_that_fits_and_names_every_mismatch_when_none_does() {
        let json = json!({"n": 1, "kind": "A", "tags": [], "maybe": {"flag": false}});
        let Value::Record(fields) = convert(&json).unwrap() else {
            panic!("a record converts to a record")
        };
        assert!(
            matches!(&fields[3].1, Value::Union(1, inner) if matches!(**inner, Value::Record(_)))
        );
        let error = convert(&json!({"n": 1, "kind": "A", "tags": [], "maybe": 5})).unwrap_err();
        assert_eq!(
            error,
            "data.maybe: fits no branch of the union (data.maybe: expected null, found number 5; \
             data.maybe: expected a t.Inner record (JSON object), found number 5)"
        );
        let error = convert(&json!({"n": 1, "kind": "A", "tags": [], "again": {"flag": "yes"}}))
            .unwrap_err();
        assert!(
            error.contains("data.again.flag: expected boolean, found string \"yes\""),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_enum_symbol_lists_the_known_ones() {
        let error = convert(&json!({"n": 1, "kind": "C", "tags": []})).unwrap_err();
        assert_eq!(error, r#"data.kind: "C" is not a symbol of t.Kind (A, B)"#);
    }
}
