//! Whether a catalog is the contract of a domain's events: every event type has a schema and
//! every schema an event type, sample events survive the trip through their schema unchanged,
//! and the schemas follow the house rules. Generic over the domain: the caller passes its
//! event types and samples (`causeway schemas check` does).

use std::collections::HashMap;

use apache_avro::Schema;
use causeway_infra::avro::{CodecError, EventSchema, SchemaCatalog};
use serde_json::{Value as Json, json};

use super::compat::inline_references;

/// A domain event type: `(aggregate type, event type)`, e.g. `("Order", "OrderPlaced")`.
pub type DomainEventType = (&'static str, &'static str);

/// Problems when a domain event type has no schema (or one in another aggregate's folder),
/// or a schema has no domain event type. Each names the event type. `schema_folder` answers
/// an aggregate type's folder of `schemas/`, `None` for an aggregate type without a topic.
pub fn check_coverage(
    catalog: &SchemaCatalog,
    domain: &[DomainEventType],
    schema_folder: impl Fn(&str) -> Option<&'static str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for &(aggregate_type, event_type) in domain {
        let Some(folder) = schema_folder(aggregate_type) else {
            problems.push(format!(
                "{event_type}: its aggregate type {aggregate_type} has no topic"
            ));
            continue;
        };
        match catalog.by_event_type(event_type) {
            Err(_) => problems.push(format!(
                "{event_type}: the {aggregate_type} event type has no schema \
                 (expected schemas/{folder}/{event_type}.avsc)"
            )),
            Ok(schema) if schema.folder() != folder => problems.push(format!(
                "{event_type}: belongs to {aggregate_type}, but its schema is schemas/{}",
                schema.path()
            )),
            Ok(_) => {}
        }
    }
    for schema in catalog.iter() {
        if !domain.iter().any(|&(_, t)| t == schema.event_type()) {
            problems.push(format!(
                "{}: schemas/{} has no event type in the domain",
                schema.event_type(),
                schema.path()
            ));
        }
    }
    problems
}

/// One sample event, as the event store stores it, and the way back into the domain.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its aggregate type, e.g. `Order`.
    pub aggregate_type: &'static str,
    /// Its event type, e.g. `OrderPlaced`.
    pub event_type: &'static str,
    /// `{"type": …, "data": {…}}`.
    pub stored: Json,
    /// Deserializes a stored form into the domain's event and serializes it again.
    pub reparse: fn(Json) -> serde_json::Result<Json>,
}

impl Sample {
    /// Encodes the sample's `data` with its schema, decodes it back and has the domain
    /// deserialize the result: an error says what changed or failed.
    pub fn round_trip(&self, catalog: &SchemaCatalog) -> Result<(), String> {
        let schema = catalog
            .by_event_type(self.event_type)
            .map_err(|e| e.to_string())?;
        let file = format!("schemas/{}", schema.path());
        let data = &self.stored["data"];
        let bytes = schema
            .encode_datum(data)
            .map_err(|e| format!("the Rust event does not fit {file}: {}", detail(e)))?;
        let back = schema
            .decode_datum(schema.schema(), &file, &bytes)
            .map_err(|e| format!("{file} does not read back what it wrote: {}", detail(e)))?;
        if back != *data {
            return Err(format!(
                "the data changed through {file}: {data} came back as {back}"
            ));
        }
        match (self.reparse)(json!({"type": self.event_type, "data": back})) {
            Ok(reparsed) if reparsed == self.stored => Ok(()),
            Ok(reparsed) => Err(format!(
                "the domain reads {reparsed} back, not {}",
                self.stored
            )),
            Err(e) => Err(format!(
                "the domain cannot deserialize the decoded data: {e}"
            )),
        }
    }
}

fn detail(error: CodecError) -> String {
    match error {
        CodecError::SchemaMismatch { detail, .. } | CodecError::Undecodable { detail, .. } => {
            detail
        }
        other => other.to_string(),
    }
}

/// Problems when a domain event type has no sample, or a sample does not round-trip.
pub fn check_samples(
    catalog: &SchemaCatalog,
    domain: &[DomainEventType],
    samples: &[Sample],
) -> Vec<String> {
    let mut problems = Vec::new();
    for &(_, event_type) in domain {
        if !samples.iter().any(|s| s.event_type == event_type) {
            problems.push(format!(
                "{event_type}: no sample event to check its schema with"
            ));
        }
    }
    for sample in samples {
        // A missing schema is check_coverage's problem, reported once there.
        if catalog.by_event_type(sample.event_type).is_ok()
            && let Err(problem) = sample.round_trip(catalog)
        {
            problems.push(format!("{}: {problem}", sample.event_type));
        }
    }
    problems
}

/// Problems with the house rules: a `doc` on every record, field and enum; one shape per
/// shared named type (`causeway.values.Money`).
pub fn check_conventions(catalog: &SchemaCatalog) -> Vec<String> {
    let mut problems: Vec<String> = catalog
        .iter()
        .filter_map(|schema| {
            let missing = undocumented(schema);
            (!missing.is_empty())
                .then(|| format!("{}: no doc on {}", schema.event_type(), missing.join(", ")))
        })
        .collect();
    let conflicts = conflicting_named_types(catalog);
    problems.extend(conflicts.into_iter().map(|c| format!("shared type {c}")));
    problems
}

/// The records, fields and enums of `schema` without a `doc`, e.g. `OrderPlaced.lines`.
pub fn undocumented(schema: &EventSchema) -> Vec<String> {
    let mut missing = Vec::new();
    for named in schema.names().values() {
        match named {
            Schema::Record(record) => {
                let name = record.name.name();
                if record.doc.is_none() {
                    missing.push(name.to_owned());
                }
                let fields = record.fields.iter().filter(|f| f.doc.is_none());
                missing.extend(fields.map(|f| format!("{name}.{}", f.name)));
            }
            Schema::Enum(e) if e.doc.is_none() => missing.push(e.name.name().to_owned()),
            _ => {}
        }
    }
    missing.sort();
    missing
}

/// Named types defined differently by two schemas, as `"<name>: <path> and <path> differ"`.
pub fn conflicting_named_types(catalog: &SchemaCatalog) -> Vec<String> {
    let mut first: HashMap<String, (&str, String)> = HashMap::new();
    let mut conflicts = Vec::new();
    for schema in catalog.iter() {
        for (name, named) in schema.names() {
            let form = inline_references(named, schema.names()).canonical_form();
            match first.get(&name.fullname(None)) {
                Some((path, seen)) if *seen != form => {
                    conflicts.push(format!(
                        "{}: {path} and {} differ",
                        name.fullname(None),
                        schema.path()
                    ));
                }
                Some(_) => {}
                None => {
                    first.insert(name.fullname(None), (schema.path(), form));
                }
            }
        }
    }
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_record_field_and_enum_has_a_doc() {
        assert_eq!(
            check_conventions(&SchemaCatalog::embedded().unwrap()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_missing_doc_is_named_by_its_path() {
        let text = r#"{"type":"record","name":"A","namespace":"causeway.order","doc":"a","fields":[
            {"name":"x","type":"long"},
            {"name":"k","doc":"k","type":{"type":"enum","name":"K","symbols":["Y"]}}]}"#;
        let catalog = SchemaCatalog::from_sources([("order/A.avsc", text)]).unwrap();
        assert_eq!(
            check_conventions(&catalog),
            vec!["A: no doc on A.x, K".to_owned()]
        );
    }

    #[test]
    fn a_shared_type_defined_differently_is_reported() {
        let with_money = |record: &str, amount: &str| {
            format!(
                r#"{{"type":"record","name":"{record}","namespace":"causeway.order","doc":"d","fields":[
                {{"name":"m","doc":"m","type":{{"type":"record","name":"Money","namespace":"causeway.values",
                "doc":"m","fields":[{{"name":"amount_minor","doc":"x","type":"{amount}"}}]}}}}]}}"#
            )
        };
        let (a, b) = (with_money("A", "long"), with_money("B", "string"));
        let catalog = SchemaCatalog::from_sources([
            ("order/A.avsc", a.as_str()),
            ("order/B.avsc", b.as_str()),
        ])
        .unwrap();
        assert_eq!(
            conflicting_named_types(&catalog),
            vec!["causeway.values.Money: order/A.avsc and order/B.avsc differ".to_owned()]
        );
        let same = with_money("B", "long");
        let catalog = SchemaCatalog::from_sources([
            ("order/A.avsc", a.as_str()),
            ("order/B.avsc", same.as_str()),
        ])
        .unwrap();
        assert_eq!(conflicting_named_types(&catalog), Vec::<String>::new());
    }

    #[test]
    fn coverage_names_a_missing_a_misplaced_and_an_extra_schema() {
        let catalog = SchemaCatalog::from_sources([
            ("payment/OrderPlaced.avsc", r#"{"type":"record","name":"OrderPlaced","namespace":"causeway.payment","fields":[]}"#),
            ("order/OrderShipped.avsc", r#"{"type":"record","name":"OrderShipped","namespace":"causeway.order","fields":[]}"#),
        ])
        .unwrap();
        let domain = [("Order", "OrderPlaced"), ("Order", "OrderExpired")];
        assert_eq!(
            check_coverage(&catalog, &domain, |t| (t == "Order").then_some("order")),
            vec![
                "OrderPlaced: belongs to Order, but its schema is schemas/payment/OrderPlaced.avsc",
                "OrderExpired: the Order event type has no schema (expected schemas/order/OrderExpired.avsc)",
                "OrderShipped: schemas/order/OrderShipped.avsc has no event type in the domain",
            ]
        );
    }
}
