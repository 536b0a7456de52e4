//! One placed order is ONE trace in Jaeger, across the roles run as separate processes of
//! the `causeway` binary, each exporting under a service name of its own: the HTTP command and
//! its append, every relay publication, each participant's reaction and command, every
//! projection update, down to `OrderConfirmed`, which carries the saga's outcome; and every
//! span's parent is in the trace, but for the root's (the caller's span). A replay of those
//! events (the participants' offsets forgotten) only links to that trace and adds nothing to it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use causeway_infra::Settings;
use causeway_projections::{
    CustomersProjection, InventoryProjection, NotificationsProjection, OrdersProjection,
    PaymentsProjection, SagaTimelineProjection,
};
use causeway_tests::process::RoleProcess;
use causeway_tests::shop::shop_settings;
use causeway_tests::{TestDatabase, eventually, free_port, jaeger_query_url, unique};
use serde_json::{Value, json};

const ROLES: [&str; 5] = ["command-api", "relay", "sagas", "projections", "read-api"];

/// The roles of one platform, each a `causeway serve --roles <role>` child process, killed
/// when dropped. Their logs go to files, named on failure.
struct Platform {
    processes: BTreeMap<&'static str, RoleProcess>,
    logs: PathBuf,
    command_api: String,
    read_api: String,
    services: BTreeMap<&'static str, String>,
}

impl Platform {
    /// Every role with the shared settings ([`env`]), each exporting under a service name of
    /// its own and logging to a file; the HTTP roles on free ports.
    fn start(settings: &Settings) -> Self {
        let run = unique("saga-trace");
        let logs = std::env::temp_dir().join(&run);
        std::fs::create_dir_all(&logs).unwrap();
        let services: BTreeMap<&'static str, String> = ROLES
            .iter()
            .map(|role| (*role, format!("causeway-{role}")))
            .collect();
        let processes: BTreeMap<&'static str, RoleProcess> = ROLES
            .iter()
            .map(|role| {
                let port = if role.ends_with("api") {
                    free_port()
                } else {
                    0
                };
                let process = RoleProcess::command(role, settings)
                    .port(port)
                    .envs(env(settings))
                    .env("CAUSEWAY_TELEMETRY__SERVICE_NAME", &services[role])
                    .stderr_to(logs.join(format!("{role}.log")))
                    .start();
                (*role, process)
            })
            .collect();
        Self {
            command_api: processes["command-api"].base_url(),
            read_api: processes["read-api"].base_url(),
            processes,
            logs,
            services,
        }
    }

    /// Kills the process of `role`.
    fn kill(&mut self, role: &str) {
        self.processes.get_mut(role).unwrap().kill();
    }

    /// Starts `role` again (after [`Platform::kill`]), with `extra` variables.
    fn restart(&mut self, role: &str, extra: &[(&str, &str)]) {
        self.processes.get_mut(role).unwrap().restart_with(extra);
    }
}

fn otlp_endpoint() -> String {
    std::env::var("CAUSEWAY_TEST_OTLP_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4317".into())
}

/// The shared settings of every role, as `CAUSEWAY_…` variables: one database, one topic
/// prefix, the relay's identity, fast saga retries, and traces exported to Jaeger.
fn env(settings: &Settings) -> Vec<(String, String)> {
    let vars = [
        (
            "DATABASE__DATABASE_NAME",
            settings.database.database_name.clone(),
        ),
        ("DATABASE__MAX_CONNECTIONS", "8".into()),
        ("DATABASE__ACQUIRE_TIMEOUT_MS", "30000".into()),
        ("KAFKA__TOPIC_PREFIX", settings.kafka.topic_prefix.clone()),
        (
            "RELAY__CHECKPOINT_TOPIC",
            settings.relay.checkpoint_topic.clone(),
        ),
        (
            "RELAY__TRANSACTIONAL_ID",
            settings.relay.transactional_id.clone(),
        ),
        ("RELAY__LOCK_KEY", settings.relay.lock_key.to_string()),
        ("RELAY__BATCH_SIZE", settings.relay.batch_size.to_string()),
        (
            "RELAY__POLL_INTERVAL_MS",
            settings.relay.poll_interval_ms.to_string(),
        ),
        (
            "RELAY__STANDBY_RETRY_MS",
            settings.relay.standby_retry_ms.to_string(),
        ),
        (
            "SAGAS__REACTION_BACKOFF_MS",
            settings.sagas.reaction_backoff_ms.to_string(),
        ),
        (
            "SAGAS__REACTION_BACKOFF_MAX_MS",
            settings.sagas.reaction_backoff_max_ms.to_string(),
        ),
        (
            "SAGAS__DEADLINE_POLL_MS",
            settings.sagas.deadline_poll_ms.to_string(),
        ),
        // Long enough that a slow machine confirms rather than expires the order.
        ("SAGAS__ORDER_TIMEOUT_MS", "120000".into()),
        ("TELEMETRY__OTLP_ENDPOINT", otlp_endpoint()),
    ];
    vars.into_iter()
        .map(|(key, value)| (format!("CAUSEWAY_{key}"), value))
        // Info spans must pass the filter to be exported.
        .chain([(
            "RUST_LOG".to_owned(),
            "info,rdkafka=warn,sqlx=warn".to_owned(),
        )])
        .collect()
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: Value,
    traceparent: Option<&str>,
) -> Value {
    let mut request = client.post(&url).json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

/// One span of a Jaeger trace.
#[derive(Debug)]
struct Span {
    id: String,
    parent: Option<String>,
    operation: String,
    service: String,
    tags: HashMap<String, String>,
}

fn spans(trace: &Value) -> Vec<Span> {
    let processes = &trace["processes"];
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| {
            let parent = span["references"].as_array().and_then(|refs| {
                refs.iter()
                    .find(|r| r["refType"] == "CHILD_OF")
                    .map(|r| r["spanID"].as_str().unwrap().to_owned())
            });
            let tags = span["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|tag| {
                    let value = match &tag["value"] {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (tag["key"].as_str().unwrap().to_owned(), value)
                })
                .collect();
            let process = span["processID"].as_str().unwrap();
            Span {
                id: span["spanID"].as_str().unwrap().to_owned(),
                parent,
                operation: span["operationName"].as_str().unwrap().to_owned(),
                service: processes[process]["serviceName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                tags,
            }
        })
        .collect()
}

/// What must be in the trace: `(service, operation)` pairs.
fn required_steps(services: &BTreeMap<&'static str, String>) -> Vec<(String, String)> {
    let command_api = &services["command-api"];
    let relay = &services["relay"];
    let sagas = &services["sagas"];
    let projections = &services["projections"];
    let mut steps = vec![
        (command_api.clone(), "POST /api/orders".to_owned()),
        (command_api.clone(), "execute".to_owned()),
        (command_api.clone(), "write".to_owned()),
    ];
    for event in [
        "OrderPlaced",
        "StockReserved",
        "CreditReserved",
        "PaymentAuthorized",
        "OrderConfirmed",
    ] {
        steps.push((relay.clone(), format!("publish {event}")));
    }
    for reaction in [
        "inventory reacts to OrderPlaced",
        "order reacts to StockReserved",
        "payment reacts to OrderPlaced",
        "payment reacts to CreditReserved",
        "order reacts to PaymentAuthorized",
        "InventoryItem.Reserve",
        "Order.MarkLineReserved",
        "Customer.ReserveCredit",
        "Payment.Authorize",
        "Order.Confirm",
        "write",
    ] {
        steps.push((sagas.clone(), reaction.to_owned()));
    }
    for projection in [
        InventoryProjection::NAME,
        CustomersProjection::NAME,
        PaymentsProjection::NAME,
        NotificationsProjection::NAME,
    ] {
        steps.push((projections.clone(), format!("{projection} applies")));
    }
    for projection in [OrdersProjection::NAME, SagaTimelineProjection::NAME] {
        steps.push((
            projections.clone(),
            format!("{projection} applies OrderConfirmed"),
        ));
    }
    steps
}

/// The steps still missing from `spans` (an operation given without its event type matches
/// any event).
fn missing(spans: &[Span], required: &[(String, String)]) -> Vec<String> {
    required
        .iter()
        .filter(|(service, operation)| {
            !spans.iter().any(|s| {
                &s.service == service
                    && (s.operation == *operation
                        || s.operation.starts_with(&format!("{operation} ")))
            })
        })
        .map(|(service, operation)| format!("{service}: {operation}"))
        .collect()
}

fn summary(spans: &[Span]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for span in spans {
        *counts.entry(span.service.as_str()).or_default() += 1;
    }
    counts
}

/// The spans of `service` tagged `replay=true` that link (FOLLOWS_FROM) into `trace_id`.
async fn replay_links(client: &reqwest::Client, service: &str, trace_id: &str) -> Vec<Value> {
    let query = [
        ("service", service),
        ("tags", r#"{"replay":"true"}"#),
        ("limit", "100"),
        ("lookback", "1h"),
    ];
    let url =
        reqwest::Url::parse_with_params(&format!("{}/api/traces", jaeger_query_url()), &query)
            .unwrap();
    let Ok(response) = client.get(url).send().await else {
        return Vec::new();
    };
    let Ok(body) = response.json::<Value>().await else {
        return Vec::new();
    };
    let traces = body["data"].as_array().cloned().unwrap_or_default();
    traces
        .iter()
        .flat_map(|trace| trace["spans"].as_array().cloned().unwrap_or_default())
        .filter(|span| {
            span["references"].as_array().is_some_and(|refs| {
                refs.iter()
                    .any(|r| r["refType"] == "FOLLOWS_FROM" && r["traceID"] == trace_id)
            })
        })
        .collect()
}

/// The spans of `trace_id` once their number has not changed for 8 s (exporters batch every
/// 5 s).
async fn settled_trace(client: &reqwest::Client, trace_id: &str) -> Vec<Span> {
    let mut last = Vec::new();
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        let now = fetch_trace(client, trace_id)
            .await
            .map(|t| spans(&t))
            .unwrap_or_default();
        if now.len() == last.len() {
            return now;
        }
        last = now;
    }
    panic!("trace {trace_id} kept growing: {} spans", last.len());
}

async fn fetch_trace(client: &reqwest::Client, trace_id: &str) -> Option<Value> {
    let url = format!("{}/api/traces/{trace_id}", jaeger_query_url());
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["data"].as_array()?.first().cloned()
}

#[tokio::test]
async fn one_placed_order_is_one_trace_across_every_role_and_a_replay_only_links_to_it() {
    let db = TestDatabase::migrated().await;
    let settings = shop_settings(&db.settings);
    let mut platform = Platform::start(&settings);
    let client = causeway_tests::tokens::admin_client().await;
    for base in [&platform.command_api, &platform.read_api] {
        eventually(Duration::from_secs(60), "the HTTP roles to listen", || {
            let url = format!("{base}/health/live");
            let client = client.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await;
    }

    let api = &platform.command_api;
    let sku = unique("mug");
    post(
        &client,
        format!("{api}/api/inventory/{sku}/restock"),
        json!({"quantity": 10}),
        None,
    )
    .await;
    let customer = post(
        &client,
        format!("{api}/api/customers"),
        json!({"name": "Ada", "email": "ada@example.com", "credit_limit_cents": 100_000, "currency": "EUR"}),
        None,
    )
    .await;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let order = json!({
        "customer_id": customer["customer_id"],
        "currency": "EUR",
        "lines": [{"sku": sku, "quantity": 2, "unit_price_cents": 1250}],
    });
    let placed = post(
        &client,
        format!("{api}/api/orders"),
        order,
        Some(&traceparent),
    )
    .await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    let status_url = format!("{}/api/orders/{order_id}", platform.read_api);
    let status = eventually(Duration::from_secs(120), "the order to be final", || {
        let client = client.clone();
        let url = status_url.clone();
        async move {
            let body: Value = client.get(url).send().await.ok()?.json().await.ok()?;
            let status = body["status"].as_str()?.to_owned();
            causeway_tests::shop::FINAL
                .contains(&status.as_str())
                .then_some(status)
        }
    })
    .await;
    assert_eq!(status, "confirmed", "logs in {}", platform.logs.display());

    // Exporters batch (every 5 s by default): wait for every step to arrive.
    let required = required_steps(&platform.services);
    let mut last_missing = Vec::new();
    let mut found = Vec::new();
    for _ in 0..90 {
        if let Some(trace) = fetch_trace(&client, &trace_id).await {
            found = spans(&trace);
            last_missing = missing(&found, &required);
            if last_missing.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let counts = summary(&found);
    assert!(
        last_missing.is_empty(),
        "trace {trace_id} lacks {last_missing:?}; spans per service: {counts:?}; logs in {}",
        platform.logs.display()
    );
    eprintln!("trace {trace_id}: spans per service {counts:?}");

    let services: BTreeSet<&str> = found.iter().map(|s| s.service.as_str()).collect();
    for role in ["command-api", "relay", "sagas", "projections"] {
        assert!(
            services.contains(platform.services[role].as_str()),
            "{services:?}"
        );
    }

    // One tree: every parent is in the trace, but the root's, which is the caller's span.
    let ids: BTreeSet<&str> = found.iter().map(|s| s.id.as_str()).collect();
    let orphans: Vec<&Span> = found
        .iter()
        .filter(|s| s.parent.as_deref().is_none_or(|p| !ids.contains(p)))
        .collect();
    assert_eq!(orphans.len(), 1, "one root: {orphans:#?}");
    assert_eq!(orphans[0].parent.as_deref(), Some(caller_span));
    assert_eq!(orphans[0].operation, "POST /api/orders");

    // Every event span says which event it is about; the confirmation carries the outcome.
    let event_spans: Vec<&Span> = found
        .iter()
        .filter(|s| s.operation.starts_with("publish ") || s.operation.contains(" applies "))
        .collect();
    assert!(!event_spans.is_empty());
    for span in &event_spans {
        for tag in ["aggregate_id", "event_type", "sequence"] {
            assert!(span.tags.contains_key(tag), "{tag} on {span:?}");
        }
    }
    let confirmations: Vec<&&Span> = event_spans
        .iter()
        .filter(|s| s.tags.get("event_type").map(String::as_str) == Some("OrderConfirmed"))
        .collect();
    assert!(confirmations.len() >= 3, "{confirmations:#?}");
    for span in confirmations {
        assert_eq!(span.tags.get("aggregate_id"), Some(&order_id));
        assert_eq!(
            span.tags.get("saga.outcome").map(String::as_str),
            Some("confirmed"),
            "{span:?}"
        );
    }
    let reactions = found.iter().filter(|s| s.operation.contains(" reacts to "));
    for span in reactions {
        for tag in ["aggregate_id", "event_type", "sequence", "participant"] {
            assert!(span.tags.contains_key(tag), "{tag} on {span:?}");
        }
    }

    // A replay: the participants forget their offsets and re-consume every event, all older
    // than the replay age now. Their spans link to the order's trace and add nothing to it.
    let before = settled_trace(&client, &trace_id).await;
    let sagas = platform.services["sagas"].clone();
    let count = |spans: &[Span]| spans.iter().filter(|s| s.service == sagas).count();
    platform.kill("sagas");
    causeway_tests::shop::forget_saga_offsets(&settings).await;
    platform.restart("sagas", &[("CAUSEWAY_TELEMETRY__REPLAY_AGE_MS", "1")]);
    let links = eventually(
        Duration::from_secs(120),
        "replayed reactions linking to the order's trace",
        || {
            let client = client.clone();
            let (sagas, trace_id) = (sagas.clone(), trace_id.clone());
            async move {
                let links = replay_links(&client, &sagas, &trace_id).await;
                (links.len() >= 3).then_some(links)
            }
        },
    )
    .await;
    for span in &links {
        assert!(
            span["operationName"]
                .as_str()
                .unwrap()
                .contains(" reacts to "),
            "{span}"
        );
    }
    let after = settled_trace(&client, &trace_id).await;
    assert_eq!(
        count(&after),
        count(&before),
        "the replay added spans to the order's trace; logs in {}",
        platform.logs.display()
    );
    assert_eq!(after.len(), before.len());
}
