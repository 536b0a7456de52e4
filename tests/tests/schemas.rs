//! The Avro contracts against the real schema registry: every event type round-trips in
//! Confluent framing, old schemas still read, incompatible changes are refused by
//! `causeway schemas check` and by the registry, bad payloads fail clearly.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use causeway::schemas::evolution::{check_git_history, check_registry};
use causeway::schemas::{check, domain_event_types, samples};
use causeway_domain::EventStream;
use causeway_domain::PaymentEvent;
use causeway_domain::payment::PaymentVoided;
use causeway_infra::avro::{
    COMPATIBILITY_LEVEL, CodecError, EventCodec, RegistryAdmin, SchemaCatalog,
};
use causeway_infra::topics::Topics;
use causeway_tests::{settings, unique};
use serde_json::{Value, json};

/// Topic names of their own, so each test's subjects are new.
fn fresh_topics() -> Topics {
    Topics::with_prefix(format!("{}.", unique("schemas")))
}

fn codec() -> EventCodec {
    EventCodec::new(&settings().registry).unwrap()
}

fn admin() -> RegistryAdmin {
    RegistryAdmin::new(&settings().registry).unwrap()
}

fn embedded_text(path: &str) -> &'static str {
    let sources = SchemaCatalog::embedded_sources();
    sources.iter().find(|(p, _)| *p == path).unwrap().1
}

/// The embedded schemas with each `(path, text)` of `changes` put in place (replacing the
/// file at that path, or added) and the files at `removed` left out.
fn catalog_with(changes: &[(&str, &str)], removed: &[&str]) -> Arc<SchemaCatalog> {
    let kept = SchemaCatalog::embedded_sources()
        .iter()
        .filter(|(p, _)| !removed.contains(p) && changes.iter().all(|(c, _)| c != p));
    let sources = kept.copied().chain(changes.iter().copied());
    Arc::new(SchemaCatalog::from_sources(sources).unwrap())
}

/// A fresh folder outside any git checkout.
fn not_a_checkout() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("causeway-schemas-plain"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `path`'s embedded schema with `edit` applied to its field list.
fn edited(path: &str, edit: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut schema: Value = serde_json::from_str(embedded_text(path)).unwrap();
    edit(schema["fields"].as_array_mut().unwrap());
    schema.to_string()
}

/// OrderCancelled with a new field that has no default: old events lack it.
fn cancelled_with_required_field() -> String {
    edited("order/OrderCancelled.avsc", |fields| {
        fields.push(json!({"name": "refund_id", "doc": "x", "type": "string"}));
    })
}

#[tokio::test]
async fn every_domain_event_type_has_a_schema_and_round_trips_through_the_codec_and_registry() {
    let (codec, topics) = (codec(), fresh_topics());
    let mut round_tripped = BTreeSet::new();
    for sample in samples().unwrap() {
        let stream = EventStream::from_aggregate_type(sample.aggregate_type).unwrap();
        let data = &sample.stored["data"];
        let bytes = codec
            .encode(&topics.events(stream.base_topic()), sample.event_type, data)
            .await
            .unwrap();
        let again = codec
            .encode(&topics.events(stream.base_topic()), sample.event_type, data)
            .await
            .unwrap();
        assert_eq!(
            again, bytes,
            "a cached schema id frames exactly as a registration does"
        );
        let decoded = codec.decode(&bytes).await.unwrap();
        assert_eq!(decoded.event_type, sample.event_type);
        assert_eq!(
            decoded.full_name,
            format!("causeway.{}.{}", stream.schema_folder(), sample.event_type)
        );
        assert_eq!(&decoded.data, data, "{}", sample.event_type);
        round_tripped.insert(sample.event_type);
    }
    let domain: BTreeSet<_> = domain_event_types().into_iter().map(|(_, t)| t).collect();
    assert_eq!(round_tripped, domain);
    assert_eq!(round_tripped.len(), 21);
}

#[tokio::test]
async fn the_wire_bytes_start_with_magic_byte_zero_and_the_registered_schema_id() {
    let (codec, topics, admin) = (codec(), fresh_topics(), admin());
    let topic = topics.events(EventStream::Order.base_topic());
    let data = json!({"sku": "APPLE"});
    let bytes = codec
        .encode(&topic, "OrderLineReserved", &data)
        .await
        .unwrap();

    // TopicRecordNameStrategy: `<topic>-<full record name>`, set to FULL_TRANSITIVE.
    let subject = format!("{topic}-causeway.order.OrderLineReserved");
    assert_eq!(admin.versions(&subject).await.unwrap(), vec![1]);
    assert_eq!(
        admin.compatibility(&subject).await.unwrap().as_deref(),
        Some(COMPATIBILITY_LEVEL)
    );
    let schema = codec.catalog().by_event_type("OrderLineReserved").unwrap();
    let registered = admin
        .register(&subject, schema.schema_json())
        .await
        .unwrap();
    assert_eq!(
        registered.version, 1,
        "registering the same schema again adds no version"
    );

    assert_eq!(bytes[0], 0);
    assert_eq!(bytes[1..5], registered.id.to_be_bytes());
    assert_eq!(bytes[5..], schema.encode_datum(&data).unwrap());
    assert_eq!(codec.decode(&bytes).await.unwrap().schema_id, registered.id);
}

const VOIDED_V1: &str = r#"{"type": "record", "name": "PaymentVoided", "namespace": "causeway.payment",
    "doc": "v1: before the voided authorization was recorded.", "fields": []}"#;

#[tokio::test]
async fn an_event_written_with_an_older_schema_still_decodes_with_the_current_reader_schema() {
    let settings = settings();
    let topic = fresh_topics().events(EventStream::Payment.base_topic());
    let v1 = catalog_with(&[("payment/PaymentVoided.avsc", VOIDED_V1)], &[]);
    let (old, current) = (
        EventCodec::with_catalog(&settings.registry, v1).unwrap(),
        codec(),
    );

    let written_by_v1 = old
        .encode(&topic, "PaymentVoided", &json!({}))
        .await
        .unwrap();
    let decoded = current.decode(&written_by_v1).await.unwrap();
    assert_eq!(
        decoded.data,
        json!({"voided_authorization": null}),
        "the new field takes its default"
    );
    let event: PaymentEvent =
        serde_json::from_value(json!({"type": "PaymentVoided", "data": decoded.data})).unwrap();
    assert_eq!(
        event,
        PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: None
        })
    );

    // The current schema registers as version 2 under FULL_TRANSITIVE, and v1 readers skip
    // the field they do not know.
    let authorization = json!({"voided_authorization": {
        "customer_id": "0190a0c2-6f1e-7c3a-9d2b-000000000002",
        "amount": {"amount_minor": 450, "currency": "EUR"}}});
    let written_by_v2 = current
        .encode(&topic, "PaymentVoided", &authorization)
        .await
        .unwrap();
    assert_ne!(
        written_by_v2[1..5],
        written_by_v1[1..5],
        "another schema id"
    );
    assert_eq!(old.decode(&written_by_v2).await.unwrap().data, json!({}));
    let subject = format!("{topic}-causeway.payment.PaymentVoided");
    assert_eq!(admin().versions(&subject).await.unwrap(), vec![1, 2]);
}

/// A git repository holding `schemas/<path>` with `text`, committed.
fn repository_with(path: &str, text: &str) -> PathBuf {
    let root = std::env::temp_dir().join(unique("causeway-schemas-git"));
    let file = root.join("schemas").join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    git(&root, &["init", "-q"]);
    git(&root, &["add", "."]);
    git(
        &root,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "v1",
        ],
    );
    root
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn an_incompatible_change_is_refused_by_the_check_and_by_the_registry() {
    let path = "order/OrderCancelled.avsc";
    let changed_type = edited(path, |fields| fields[2]["type"] = json!("string"));
    let repo = repository_with(path, embedded_text(path));
    for (change, text) in [
        ("refund_id", cancelled_with_required_field()),
        ("was_confirmed", changed_type),
    ] {
        let findings = check_git_history(&catalog_with(&[(path, &text)], &[]), &repo);
        assert_eq!(findings.problems.len(), 1, "{change}: {findings:?}");
        let problem = &findings.problems[0];
        assert!(
            problem.starts_with(
                "OrderCancelled: schemas/order/OrderCancelled.avsc is not FULL-compatible"
            ),
            "{problem}"
        );
        assert!(problem.contains(&format!("field {change}")), "{problem}");
    }
    assert!(
        check_git_history(&SchemaCatalog::embedded().unwrap(), &repo)
            .problems
            .is_empty()
    );
    std::fs::remove_dir_all(&repo).unwrap();

    let (admin, topics) = (admin(), fresh_topics());
    let subject = format!(
        "{}-causeway.order.OrderCancelled",
        topics.events(EventStream::Order.base_topic())
    );
    admin
        .set_compatibility(&subject, COMPATIBILITY_LEVEL)
        .await
        .unwrap();
    admin.register(&subject, embedded_text(path)).await.unwrap();
    let body = json!({"schema": cancelled_with_required_field(), "schemaType": "AVRO"});
    let url = format!("{}/subjects/{subject}/versions", settings().registry.url);
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        409,
        "{}",
        response.text().await.unwrap()
    );
    match admin
        .register(&subject, &cancelled_with_required_field())
        .await
    {
        Err(CodecError::Registry {
            status: Some(409), ..
        }) => {}
        other => panic!("expected a 409 refusal, got {other:?}"),
    }
    let changed = cancelled_with_required_field();
    let topic_of = |schema: &causeway_infra::avro::EventSchema| {
        EventStream::from_schema_folder(schema.folder()).map(|s| topics.events(s.base_topic()))
    };
    let registered =
        check_registry(&catalog_with(&[(path, &changed)], &[]), &admin, topic_of).await;
    assert_eq!(registered.problems.len(), 1, "{registered:?}");
    assert!(
        registered.problems[0].contains(&format!("version 1 of subject {subject}")),
        "{registered:?}"
    );
}

#[tokio::test]
async fn the_check_names_each_event_type_that_has_no_schema_an_extra_schema_or_a_disagreeing_one() {
    let mut settings = settings();
    settings.kafka.topic_prefix = format!("{}.", unique("schemas"));
    let without_was_confirmed = edited("order/OrderCancelled.avsc", |fields| {
        fields.retain(|f| f["name"] != "was_confirmed")
    });
    let extra = r#"{"type":"record","name":"OrderShipped","namespace":"causeway.order","doc":"d","fields":[]}"#;
    let broken = catalog_with(
        &[
            ("order/OrderCancelled.avsc", &without_was_confirmed),
            ("order/OrderShipped.avsc", extra),
        ],
        &["order/OrderExpired.avsc"],
    );
    let outside_git = not_a_checkout();

    let findings = check(&broken, &settings, &outside_git, false)
        .await
        .unwrap();
    let problems = findings.problems.join("\n");
    assert!(problems.contains("OrderExpired: the Order event type has no schema (expected schemas/order/OrderExpired.avsc)"), "{problems}");
    assert!(
        problems.contains(
            "OrderShipped: schemas/order/OrderShipped.avsc has no event type in the domain"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("OrderCancelled: the Rust event does not fit schemas/order/OrderCancelled.avsc: data.was_confirmed: not a field"),
        "{problems}"
    );
    assert_eq!(findings.problems.len(), 3, "{problems}");

    let clean = check(
        &SchemaCatalog::embedded().unwrap(),
        &settings,
        &outside_git,
        false,
    )
    .await
    .unwrap();
    assert_eq!(clean.problems, Vec::<String>::new());
    assert!(
        clean.notices[0].starts_with("git history not checked: not in a git checkout"),
        "{clean:?}"
    );
    std::fs::remove_dir_all(&outside_git).unwrap();
}

#[tokio::test]
async fn an_undecodable_payload_gives_a_clear_codec_error() {
    let (codec, topic) = (
        codec(),
        fresh_topics().events(EventStream::Order.base_topic()),
    );
    let error = codec.decode(br#"{"sku":"APPLE"}"#).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "not Confluent-framed: the first byte is 0x7b, not the magic byte 0x00"
    );

    let mut bytes = codec
        .encode(&topic, "OrderLineReserved", &json!({"sku": "APPLE"}))
        .await
        .unwrap();
    bytes.truncate(bytes.len() - 2);
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let error = codec.decode(&bytes).await.unwrap_err().to_string();
    let expected = format!(
        "undecodable payload written with schema id {id} (causeway.order.OrderLineReserved): "
    );
    assert!(error.starts_with(&expected), "{error}");

    let unknown_id = [0, 0x7f, 0xff, 0xff, 0xf0, 2, 0];
    match codec.decode(&unknown_id).await.unwrap_err() {
        CodecError::Registry {
            action,
            status: Some(404),
            ..
        } => assert_eq!(action, "fetching schema id 2147483632"),
        other => panic!("expected the registry's 404, got {other}"),
    }

    let stranger =
        r#"{"type":"record","name":"Greeting","namespace":"causeway.smoke","fields":[]}"#;
    let registered = admin()
        .register(&format!("{topic}-causeway.smoke.Greeting"), stranger)
        .await
        .unwrap();
    let mut framed = vec![0];
    framed.extend(registered.id.to_be_bytes());
    let error = codec.decode(&framed).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "schema id {} is the record \"causeway.smoke.Greeting\", which is not an event schema of this binary",
            registered.id
        )
    );
}
