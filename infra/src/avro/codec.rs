//! [`EventCodec`]: event `data` JSON ⇄ Confluent-framed Avro, over schema_registry_converter's
//! async encoder and decoder (which cache schemas by subject and by id).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde_json::Value as Json;

use super::{COMPATIBILITY_LEVEL, CodecError, RegistryAdmin, SchemaCatalog};
use crate::registry::sr_settings;
use crate::settings::RegistrySettings;

/// The Confluent wire format's first byte, followed by the 4-byte big-endian schema id.
const MAGIC_BYTE: u8 = 0;

/// Encodes and decodes event payloads with the registry. Cheap to clone: clones share the
/// catalog and the converter's caches, so one codec serves every task.
#[derive(Clone)]
pub struct EventCodec {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Arc<SchemaCatalog>,
    encoder: AvroEncoder,
    decoder: AvroDecoder,
    admin: RegistryAdmin,
    /// Subjects whose compatibility this process has set to FULL_TRANSITIVE.
    ruled: Mutex<HashSet<String>>,
    /// The registered schema id of each subject this process has written to.
    ids: Mutex<HashMap<String, u32>>,
}

/// A decoded message value.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// The event type, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The record's full name, e.g. `causeway.order.OrderPlaced`.
    pub full_name: String,
    /// The id of the schema the producer wrote with.
    pub schema_id: u32,
    /// The event's `data`, shaped by this binary's (reader) schema: what the domain
    /// deserializes.
    pub data: Json,
}

impl EventCodec {
    /// A codec over the embedded schemas and the configured registry.
    pub fn new(settings: &RegistrySettings) -> Result<Self, CodecError> {
        Self::with_catalog(settings, SchemaCatalog::embedded()?)
    }

    /// A codec over `catalog` (tests use other versions of the schemas).
    pub fn with_catalog(
        settings: &RegistrySettings,
        catalog: Arc<SchemaCatalog>,
    ) -> Result<Self, CodecError> {
        let sr = sr_settings(settings).map_err(|e| CodecError::Registry {
            action: "configuring the registry client".to_owned(),
            status: None,
            message: e.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                catalog,
                encoder: AvroEncoder::new(sr.clone()),
                decoder: AvroDecoder::new(sr),
                admin: RegistryAdmin::new(settings)?,
                ruled: Mutex::new(HashSet::new()),
                ids: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The schemas this codec writes with and reads into.
    pub fn catalog(&self) -> &SchemaCatalog {
        &self.inner.catalog
    }

    /// Encodes an event's `data` for `topic`: magic byte 0, the schema id, Avro binary. On
    /// first use of a subject (`<topic>-<full record name>`) this process sets its
    /// compatibility to FULL_TRANSITIVE, so even the first version is guarded, and registers
    /// the schema; the converter caches the id from then on.
    pub async fn encode(
        &self,
        topic: &str,
        event_type: &str,
        data: &Json,
    ) -> Result<Vec<u8>, CodecError> {
        let schema = self.inner.catalog.by_event_type(event_type)?;
        let subject = schema.subject(topic);
        let Some(id) = self.cached_id(&subject) else {
            return self
                .register_and_encode(topic, event_type, data, subject)
                .await;
        };
        // The hot path: the id is known, so framing is local (no registry, no schema text).
        let datum = schema.encode_datum(data)?;
        let mut framed = Vec::with_capacity(datum.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&id.to_be_bytes());
        framed.extend_from_slice(&datum);
        Ok(framed)
    }

    /// Makes the first [`Self::encode`] of `event_type` for `topic` as fast as the later
    /// ones: sets the subject's rule and registers its schema now (both idempotent), and
    /// remembers the id. The relay does this for every event type when it starts leading,
    /// so the first order after start-up does not wait for the registry at each step.
    pub async fn prepare(&self, topic: &str, event_type: &str) -> Result<(), CodecError> {
        let schema = self.inner.catalog.by_event_type(event_type)?;
        let subject = schema.subject(topic);
        if self.cached_id(&subject).is_some() {
            return Ok(());
        }
        self.ensure_rule(&subject).await?;
        let registered = self
            .inner
            .admin
            .register(&subject, schema.schema_json())
            .await?;
        if let Ok(mut ids) = self.inner.ids.lock() {
            ids.insert(subject, registered.id);
        }
        Ok(())
    }

    fn cached_id(&self, subject: &str) -> Option<u32> {
        self.inner.ids.lock().ok()?.get(subject).copied()
    }

    /// First write to a subject: sets its rule, registers the schema through the converter
    /// and remembers the id the registry gave it.
    async fn register_and_encode(
        &self,
        topic: &str,
        event_type: &str,
        data: &Json,
        subject: String,
    ) -> Result<Vec<u8>, CodecError> {
        let schema = self.inner.catalog.by_event_type(event_type)?;
        let value = schema.to_avro(data)?;
        self.ensure_rule(&subject).await?;
        let supplied = SuppliedSchema::new(
            Some(schema.full_name().to_owned()),
            SchemaType::Avro,
            schema.schema_json().to_owned(),
        );
        let strategy =
            SubjectNameStrategy::TopicRecordNameStrategyWithSchema(topic.to_owned(), supplied);
        let framed = self
            .inner
            .encoder
            .encode_value(value, &strategy)
            .await
            .map_err(|e| registry_error(format!("encoding {event_type} for {subject}"), &e))?;
        if let (Some(id), Ok(mut ids)) = (frame_id(&framed), self.inner.ids.lock()) {
            ids.insert(subject, id);
        }
        Ok(framed)
    }

    /// Decodes a message value: looks up the writer schema by the id in the framing, and
    /// resolves what it wrote into this binary's schema of the same record.
    pub async fn decode(&self, bytes: &[u8]) -> Result<DecodedEvent, CodecError> {
        let (schema_id, body) = split_frame(bytes)?;
        let writer = self
            .inner
            .decoder
            .get_schema(schema_id)
            .await
            .map_err(|e| registry_error(format!("fetching schema id {schema_id}"), &e))?;
        let full_name = writer
            .parsed
            .name()
            .map(|name| name.fullname(None))
            .unwrap_or_default();
        let reader = self.inner.catalog.by_full_name(&full_name).ok_or_else(|| {
            CodecError::UnknownRecord {
                schema_id,
                full_name: full_name.clone(),
            }
        })?;
        let label = format!("schema id {schema_id} ({full_name})");
        let data = reader.decode_datum(&writer.parsed, &label, body)?;
        Ok(DecodedEvent {
            event_type: reader.event_type().to_owned(),
            full_name,
            schema_id,
            data,
        })
    }
}

impl EventCodec {
    async fn ensure_rule(&self, subject: &str) -> Result<(), CodecError> {
        if self.ruled().contains(subject) {
            return Ok(());
        }
        // Two tasks may both set it the first time: the call is idempotent.
        self.inner
            .admin
            .set_compatibility(subject, COMPATIBILITY_LEVEL)
            .await?;
        self.ruled().insert(subject.to_owned());
        Ok(())
    }

    fn ruled(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set is only ever extended, so a panicked holder left nothing half-done.
        self.inner
            .ruled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for EventCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCodec")
            .field("schemas", &self.inner.catalog.len())
            .finish_non_exhaustive()
    }
}

/// The schema id and the Avro body of a Confluent-framed value.
pub(crate) fn split_frame(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let reason = match bytes {
        [MAGIC_BYTE, a, b, c, d, body @ ..] => {
            return Ok((u32::from_be_bytes([*a, *b, *c, *d]), body));
        }
        [] => "the payload is empty".to_owned(),
        [MAGIC_BYTE, ..] => format!(
            "{} bytes are too few for the magic byte and a 4-byte schema id",
            bytes.len()
        ),
        [first, ..] => format!("the first byte is {first:#04x}, not the magic byte 0x00"),
    };
    Err(CodecError::NotConfluentFramed { reason })
}

fn registry_error(action: String, error: &SRCError) -> CodecError {
    CodecError::Registry {
        action,
        status: http_status(error),
        message: match &error.cause {
            Some(cause) => format!("{}: {cause}", error.error),
            None => error.error.clone(),
        },
    }
}

/// schema_registry_converter reports HTTP failures as "… failed with status 409 Conflict".
fn http_status(error: &SRCError) -> Option<u16> {
    let (_, rest) = error.error.split_once("with status ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The schema id of a Confluent-framed value.
fn frame_id(framed: &[u8]) -> Option<u32> {
    let id: [u8; 4] = framed.get(1..5)?.try_into().ok()?;
    (framed.first() == Some(&0)).then(|| u32::from_be_bytes(id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn the_codec_and_its_futures_can_move_between_tasks() {
        let settings = RegistrySettings {
            url: "http://127.0.0.1:9/unused".to_owned(),
            username: None,
            password: None,
            timeout_ms: 10,
        };
        let codec = EventCodec::new(&settings).unwrap();
        send_sync(&codec);
        // Not awaited: only that they are Send + Sync (spawnable) matters here.
        let data = Json::Null;
        send_sync(&codec.encode("t", "OrderPlaced", &data));
        send_sync(&codec.decode(&[]));
    }

    #[test]
    fn a_framed_value_splits_into_its_schema_id_and_body() {
        assert_eq!(
            split_frame(&[0, 0, 0, 1, 2, 9, 9]).unwrap(),
            (258, &[9, 9][..])
        );
        assert_eq!(split_frame(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
    }

    #[test]
    fn unframed_bytes_say_what_is_wrong() {
        let reason = |bytes: &[u8]| split_frame(bytes).unwrap_err().to_string();
        assert_eq!(reason(&[]), "not Confluent-framed: the payload is empty");
        assert_eq!(
            reason(b"{\"type\":1}"),
            "not Confluent-framed: the first byte is 0x7b, not the magic byte 0x00"
        );
        assert_eq!(
            reason(&[0, 0, 1]),
            "not Confluent-framed: 3 bytes are too few for the magic byte and a 4-byte schema id"
        );
    }

    #[test]
    fn the_http_status_is_read_from_the_converters_message() {
        let error = SRCError::non_retryable_without_cause(
            "HTTP request to schema registry failed with status 409 Conflict",
        );
        assert_eq!(http_status(&error), Some(409));
        assert_eq!(
            http_status(&SRCError::non_retryable_without_cause("timeout")),
            None
        );
    }
}
