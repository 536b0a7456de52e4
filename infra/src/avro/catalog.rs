//! The event schemas of `schemas/`, embedded at build time (see `infra/build.rs`) and
//! parsed once.
//!
//! Layout rules, checked when the catalog is built: `schemas/<folder>/<EventType>.avsc`,
//! where `<folder>` names the aggregate (the domain's `EventStream::schema_folder`, checked by
//! `causeway schemas check`), the file holds one record named
//! `<EventType>` in namespace `causeway.<folder>`, and no two files share a record name.

use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Read};
use std::sync::{Arc, OnceLock};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Names, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::Value as Json;

use super::CodecError;
use super::json;

include!(concat!(env!("OUT_DIR"), "/embedded_schemas.rs"));

/// One event type's schema: the contract of its `data`.
pub struct EventSchema {
    path: String,
    folder: String,
    event_type: String,
    full_name: String,
    json: String,
    schema: Schema,
    names: Names,
}

impl EventSchema {
    /// Parses the schema file at `path` (relative to `schemas/`, e.g.
    /// `order/OrderPlaced.avsc`) and checks the layout rules.
    pub fn parse(path: &str, text: &str) -> Result<Self, CodecError> {
        let invalid = |detail: String| CodecError::InvalidSchema {
            path: path.to_owned(),
            detail,
        };
        let value: Json =
            serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let schema =
            Schema::parse(&value).map_err(|e| invalid(format!("not an Avro schema: {e}")))?;
        let Schema::Record(record) = &schema else {
            return Err(invalid("the top-level schema must be a record".to_owned()));
        };
        let (folder, file) = path
            .split_once('/')
            .ok_or_else(|| invalid("expected <folder>/<EventType>.avsc".to_owned()))?;
        let event_type = record.name.name().to_owned();
        if file != format!("{event_type}.avsc") {
            return Err(invalid(format!(
                "the file must be named after its record {event_type}"
            )));
        }
        let namespace = format!("causeway.{folder}");
        if record.name.namespace() != Some(namespace.as_str()) {
            return Err(invalid(format!(
                "the record's namespace must be {namespace}"
            )));
        }
        let full_name = record.name.fullname(None);
        let names = named_types(&schema).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            path: path.to_owned(),
            folder: folder.to_owned(),
            event_type,
            full_name,
            // Registered compact, so reformatting a file is not a new version.
            json: value.to_string(),
            schema,
            names,
        })
    }

    /// The file, relative to `schemas/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The folder of `schemas/` the file is in, which names the aggregate whose events it
    /// describes (e.g. `order`).
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// The event type: the record's name, e.g. `OrderPlaced`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The record's full name, e.g. `causeway.order.OrderPlaced`.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Every named type of the schema (records, enums) by name, for resolving references.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The schema as compact JSON: the text registered with the registry.
    pub fn schema_json(&self) -> &str {
        &self.json
    }

    /// The registry subject of this schema on `topic` (TopicRecordNameStrategy).
    pub fn subject(&self, topic: &str) -> String {
        format!("{topic}-{}", self.full_name)
    }

    /// An event's `data` as an Avro value of this schema.
    pub fn to_avro(&self, data: &Json) -> Result<Value, CodecError> {
        json::to_avro(self.schema(), self.names(), data).map_err(|detail| self.mismatch(detail))
    }

    /// An event's `data` as Avro binary, without framing (for checks that need no registry).
    pub fn encode_datum(&self, data: &Json) -> Result<Vec<u8>, CodecError> {
        let value = self.to_avro(data)?;
        GenericDatumWriter::builder(self.schema())
            .build()
            .and_then(|writer| writer.write_value_to_vec(value))
            .map_err(|e| self.mismatch(e.to_string()))
    }

    /// Reads Avro binary written with `writer` (an earlier or later version of this schema,
    /// or this one) as this schema's `data` JSON, by Avro schema resolution. `writer_label`
    /// names the writer in errors, e.g. `schema id 7 (causeway.order.OrderPlaced)`.
    pub fn decode_datum(
        &self,
        writer: &Schema,
        writer_label: &str,
        bytes: &[u8],
    ) -> Result<Json, CodecError> {
        let undecodable = |detail: String| CodecError::Undecodable {
            writer: writer_label.to_owned(),
            detail,
        };
        let mut cursor = Cursor::new(bytes);
        let written = GenericDatumReader::builder(writer)
            .build()
            .and_then(|reader| reader.read_value(&mut cursor))
            .map_err(|e| undecodable(e.to_string()))?;
        let trailing = cursor.bytes().count();
        if trailing > 0 {
            return Err(undecodable(format!(
                "{trailing} bytes left after the record"
            )));
        }
        // apache-avro reads a string cut short by the end of input as null rather than
        // failing: a value that no longer fits its own writer schema was cut short.
        GenericDatumWriter::builder(writer)
            .build()
            .and_then(|check| check.write_value_ref(&mut std::io::sink(), &written))
            .map_err(|_| undecodable("the payload ends before the record does".to_owned()))?;
        let read = written
            .resolve_with_names(self.schema(), self.names())
            .map_err(|e| {
                self.mismatch(format!(
                    "{writer_label} cannot be read as {}: {e}",
                    self.full_name
                ))
            })?;
        json::to_json(read, "data").map_err(|detail| self.mismatch(detail))
    }

    fn mismatch(&self, detail: String) -> CodecError {
        CodecError::SchemaMismatch {
            event_type: self.event_type.clone(),
            detail,
        }
    }
}

/// Every named type (record, enum, fixed) defined in `schema`, by full name.
pub fn named_types(schema: &Schema) -> Result<Names, apache_avro::Error> {
    let resolved = ResolvedSchema::try_from(schema)?;
    Ok(resolved
        .get_names()
        .iter()
        .map(|(name, schema)| (name.clone(), (*schema).clone()))
        .collect())
}

impl fmt::Debug for EventSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSchema")
            .field("path", &self.path)
            .field("full_name", &self.full_name)
            .finish_non_exhaustive()
    }
}

/// Every event schema, by event type and by full name.
#[derive(Debug)]
pub struct SchemaCatalog {
    schemas: Vec<EventSchema>,
    by_event_type: HashMap<String, usize>,
    by_full_name: HashMap<String, usize>,
}

impl SchemaCatalog {
    /// The schemas embedded in this binary, parsed on first use.
    pub fn embedded() -> Result<Arc<SchemaCatalog>, CodecError> {
        static EMBEDDED: OnceLock<Result<Arc<SchemaCatalog>, CodecError>> = OnceLock::new();
        EMBEDDED
            .get_or_init(|| Self::from_sources(EMBEDDED_SCHEMAS.iter().copied()).map(Arc::new))
            .clone()
    }

    /// The files embedded in this binary: `(path relative to schemas/, text)`, by path.
    pub fn embedded_sources() -> &'static [(&'static str, &'static str)] {
        EMBEDDED_SCHEMAS
    }

    /// A catalog of `(path relative to schemas/, text)` pairs (tests build variants).
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CodecError> {
        let mut catalog = Self {
            schemas: Vec::new(),
            by_event_type: HashMap::new(),
            by_full_name: HashMap::new(),
        };
        let mut sources: Vec<_> = sources.into_iter().collect();
        sources.sort_unstable();
        for (path, text) in sources {
            catalog.add(EventSchema::parse(path, text)?)?;
        }
        Ok(catalog)
    }

    fn add(&mut self, schema: EventSchema) -> Result<(), CodecError> {
        if let Some(&other) = self.by_event_type.get(schema.event_type()) {
            return Err(CodecError::InvalidSchema {
                path: schema.path.clone(),
                detail: format!(
                    "event type {} is also defined by {}",
                    schema.event_type, self.schemas[other].path
                ),
            });
        }
        let index = self.schemas.len();
        self.by_event_type.insert(schema.event_type.clone(), index);
        self.by_full_name.insert(schema.full_name.clone(), index);
        self.schemas.push(schema);
        Ok(())
    }

    /// The schema of an event type, e.g. `"OrderPlaced"`.
    pub fn by_event_type(&self, event_type: &str) -> Result<&EventSchema, CodecError> {
        self.by_event_type
            .get(event_type)
            .map(|&i| &self.schemas[i])
            .ok_or_else(|| CodecError::UnknownEventType {
                event_type: event_type.to_owned(),
            })
    }

    /// The schema of a full record name, e.g. `"causeway.order.OrderPlaced"`.
    pub fn by_full_name(&self, full_name: &str) -> Option<&EventSchema> {
        self.by_full_name.get(full_name).map(|&i| &self.schemas[i])
    }

    /// Every schema, ordered by path.
    pub fn iter(&self) -> impl Iterator<Item = &EventSchema> {
        self.schemas.iter()
    }

    /// How many schemas there are.
    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn the_embedded_catalog_parses_and_finds_schemas_by_type_and_full_name() {
        let catalog = SchemaCatalog::embedded().unwrap();
        assert_eq!(catalog.len(), EMBEDDED_SCHEMAS.len());
        let placed = catalog.by_event_type("OrderPlaced").unwrap();
        assert_eq!(placed.full_name(), "causeway.order.OrderPlaced");
        assert_eq!(placed.folder(), "order");
        assert_eq!(
            placed.subject("orders.events"),
            "orders.events-causeway.order.OrderPlaced"
        );
        let found = catalog.by_full_name("causeway.order.OrderPlaced").unwrap();
        assert_eq!(found.path(), "order/OrderPlaced.avsc");
    }

    #[test]
    fn a_schema_out_of_place_is_refused_with_its_path() {
        let text =
            r#"{"type":"record","name":"OrderPlaced","namespace":"causeway.order","fields":[]}"#;
        let error = SchemaCatalog::from_sources([("payment/OrderPlaced.avsc", text)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid schema payment/OrderPlaced.avsc: the record's namespace must be causeway.payment"
        );
        let error = SchemaCatalog::from_sources([("order/Placed.avsc", text)]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("named after its record OrderPlaced"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_event_type_is_a_clear_error() {
        let error = SchemaCatalog::embedded()
            .unwrap()
            .by_event_type("OrderShipped")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"unknown event type "OrderShipped": no schema in schemas/ is named so"#
        );
    }

    #[test]
    fn data_round_trips_through_avro_binary_without_a_registry() {
        let catalog = SchemaCatalog::embedded().unwrap();
        let voided = catalog.by_event_type("PaymentVoided").unwrap();
        let data = json!({"voided_authorization": {
            "customer_id": "00000000-0000-0000-0000-000000000002",
            "amount": {"amount_minor": 450, "currency": "EUR"}}});
        let bytes = voided.encode_datum(&data).unwrap();
        assert_eq!(
            voided
                .decode_datum(voided.schema(), "itself", &bytes)
                .unwrap(),
            data
        );
    }

    #[test]
    fn a_payload_cut_short_is_undecodable() {
        let catalog = SchemaCatalog::embedded().unwrap();
        // Ends with a string: apache-avro alone reads one cut short as null.
        let declined = catalog.by_event_type("PaymentDeclined").unwrap();
        let data = json!({"customer_id": "c", "amount": {"amount_minor": 5, "currency": "EUR"},
            "reason": "insufficient credit"});
        let bytes = declined.encode_datum(&data).unwrap();
        for cut in 0..bytes.len() {
            let error = declined
                .decode_datum(declined.schema(), "w", &bytes[..cut])
                .unwrap_err();
            assert!(
                matches!(error, CodecError::Undecodable { .. }),
                "cut at {cut}: {error}"
            );
        }
    }

    #[test]
    fn bytes_left_after_the_record_are_undecodable() {
        let catalog = SchemaCatalog::embedded().unwrap();
        let line = catalog.by_event_type("OrderLineReserved").unwrap();
        let mut bytes = line.encode_datum(&json!({"sku": "APPLE"})).unwrap();
        bytes.push(0);
        let error = line
            .decode_datum(line.schema(), "itself", &bytes)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "undecodable payload written with itself: 1 bytes left after the record"
        );
    }
}
