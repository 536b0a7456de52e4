//! Smoke tests: each real service of the stack answers a real round trip from Rust.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use apache_avro::Schema;
use causeway_infra::settings::SslMode;
use causeway_infra::{kafka, registry, telemetry};
use causeway_tests::{TestDatabase, eventually, jaeger_query_url, settings, unique};
use opentelemetry::trace::{Span, Tracer, TracerProvider as _};
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use schema_registry_converter::async_impl::easy_avro::{EasyAvroDecoder, EasyAvroEncoder};
use schema_registry_converter::async_impl::schema_registry::{get_schema_by_id, post_schema};
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn postgres_stores_and_returns_a_row() {
    let db = TestDatabase::empty().await;
    sqlx::query("CREATE TABLE greetings (id int PRIMARY KEY, text text NOT NULL)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO greetings VALUES (1, 'hello')")
        .execute(&db.pool)
        .await
        .unwrap();
    let text: String = sqlx::query_scalar("SELECT text FROM greetings WHERE id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(text, "hello");
}

#[tokio::test]
async fn postgres_connections_use_tls_as_the_ssl_mode_setting_says() {
    let db = TestDatabase::empty().await;
    for (mode, tls) in [(SslMode::Disable, false), (SslMode::Require, true)] {
        let mut database = db.settings.database.clone();
        database.ssl_mode = mode;
        let mut conn = PgConnection::connect_with(&database.connect_options())
            .await
            .unwrap();
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(ssl, tls, "{mode:?}");
    }
}

#[tokio::test]
async fn kafka_delivers_a_produced_message_to_a_consumer() {
    let settings = settings();
    let topic = unique("smoke");
    let admin: AdminClient<DefaultClientContext> =
        kafka::client_config(&settings.kafka).create().unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let producer: FutureProducer = kafka::client_config(&settings.kafka)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&topic).key("k1").payload("hello kafka"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();

    let consumer: StreamConsumer = kafka::client_config(&settings.kafka)
        .set("group.id", unique("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .unwrap();
    assert_eq!(message.key(), Some(&b"k1"[..]));
    assert_eq!(message.payload(), Some(&b"hello kafka"[..]));
}

const GREETING_SCHEMA: &str = r#"{
  "type": "record", "name": "Greeting", "namespace": "causeway.smoke",
  "fields": [ {"name": "text", "type": "string"}, {"name": "count", "type": "long"} ]
}"#;

#[derive(Serialize)]
struct Greeting {
    text: String,
    count: i64,
}

#[tokio::test]
async fn the_registry_stores_a_schema_and_returns_it_by_id() {
    let sr = registry::sr_settings(&settings().registry).unwrap();
    let subject = format!("{}-causeway.smoke.Greeting", unique("smoke"));
    let supplied = SuppliedSchema::new(None, SchemaType::Avro, GREETING_SCHEMA.to_owned());
    let registered = post_schema(&sr, subject.clone(), supplied).await.unwrap();

    let fetched = get_schema_by_id(registered.id, &sr).await.unwrap();
    let expected = Schema::parse_str(GREETING_SCHEMA).unwrap();
    assert_eq!(
        Schema::parse_str(&fetched.schema).unwrap().canonical_form(),
        expected.canonical_form()
    );
}

#[tokio::test]
async fn avro_round_trips_through_the_registry_in_confluent_framing() {
    let sr = registry::sr_settings(&settings().registry).unwrap();
    let topic = unique("smoke");
    let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
        topic,
        SuppliedSchema::new(
            Some("causeway.smoke.Greeting".to_owned()),
            SchemaType::Avro,
            GREETING_SCHEMA.to_owned(),
        ),
    );
    let bytes = EasyAvroEncoder::new(sr.clone())
        .encode_struct(
            Greeting {
                text: "hi".to_owned(),
                count: 3,
            },
            &strategy,
        )
        .await
        .unwrap();
    assert_eq!(bytes[0], 0, "Confluent framing starts with magic byte 0");

    let decoded = EasyAvroDecoder::new(sr).decode(Some(&bytes)).await.unwrap();
    let apache_avro::types::Value::Record(fields) = decoded.value else {
        panic!("expected a record, got {:?}", decoded.value)
    };
    assert_eq!(
        fields[0],
        (
            "text".to_owned(),
            apache_avro::types::Value::String("hi".to_owned())
        )
    );
    assert_eq!(
        fields[1],
        ("count".to_owned(), apache_avro::types::Value::Long(3))
    );
}

// The batch exporter blocks its caller on a flush while the gRPC client needs the runtime to
// make progress: a second worker thread keeps the runtime going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_exported_over_otlp_is_found_through_jaegers_query_api() {
    let mut telemetry_settings = settings().telemetry;
    telemetry_settings.service_name = unique("causeway-smoke");
    let provider = telemetry::tracer_provider(&telemetry_settings)
        .unwrap()
        .expect("an OTLP endpoint");
    let mut span = provider.tracer("smoke").start("smoke-span");
    let trace_id = span.span_context().trace_id().to_string();
    span.end();
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();

    let url = format!("{}/api/traces/{trace_id}", jaeger_query_url());
    let client = reqwest::Client::new();
    let body: serde_json::Value =
        eventually(Duration::from_secs(30), "the trace in Jaeger", || {
            let request = client.get(&url).send();
            async move {
                let response = request.await.ok()?;
                if !response.status().is_success() {
                    return None;
                }
                response.json().await.ok()
            }
        })
        .await;
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], trace_id);
    assert_eq!(trace["spans"][0]["operationName"], "smoke-span");
    let service = trace["processes"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["serviceName"]
        .clone();
    assert_eq!(service, telemetry_settings.service_name);
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
}
