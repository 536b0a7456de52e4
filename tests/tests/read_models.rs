//! The read models (orders, customers, payments, notifications, saga timeline) and their
//! query API, against the real stack: commands go in over HTTP and, for the steps only saga
//! participants take, through the command store; the relay runs as a `causeway serve --roles
//! relay` process and the projection workers in this process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use causeway_commands::store::{CommandMetadata, CommandStore};
use causeway_domain::{
    Aggregate, Currency, Customer, CustomerCommand, CustomerId, InventoryCommand, InventoryItem,
    Money, Order, OrderCommand, OrderId, Payment, PaymentCommand, Quantity, RejectionReason, Sku,
};
use causeway_infra::Settings;
use causeway_infra::avro::EventCodec;
use causeway_projections::{
    CustomersProjection, Envelope, NotificationsProjection, OrdersProjection, PaymentsProjection,
    Projection, ProjectionWorker, SagaTimelineProjection, WorkerConfig,
};
use causeway_tests::relay_support::{RelayProcess, isolated_relay_settings};
use causeway_tests::{TestApp, TestDatabase, eventually};
use chrono::{DateTime, FixedOffset, Utc};
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saga_sequence_is_projected_into_every_read_model_and_the_query_api() {
    let mut stack = Stack::start().await;
    let shop = stack.run_sagas().await;
    let s = &stack;

    // Orders, read with the consistency token of the last command on each.
    let o1 = s
        .get_ok(&format!(
            "/api/orders/{}?min_version={}",
            shop.o1, shop.o1_version
        ))
        .await;
    assert_eq!(o1["status"], "cancelled");
    assert_eq!(o1["cancel_reason"], "changed my mind");
    assert_eq!(o1["rejection_reason"], Value::Null);
    assert_eq!(o1["customer_id"], shop.customer.as_str());
    assert_eq!(
        (o1["total_minor"].clone(), o1["currency"].clone()),
        (json!(2100), json!("EUR"))
    );
    assert_eq!(
        o1["version"], 6,
        "placed, 2 lines reserved, awaiting payment, confirmed, cancelled"
    );
    assert_eq!(
        lines(&o1),
        vec![
            ("TEA-1".into(), 2, 450, true),
            ("CUP-2".into(), 1, 1200, true)
        ]
    );
    let o2 = s
        .get_ok(&format!("/api/orders/{}?min_version=2", shop.o2))
        .await;
    assert_eq!(o2["status"], "rejected");
    assert_eq!(o2["rejection_reason"], "MUG-9 is out of stock");
    assert_eq!(lines(&o2), vec![("MUG-9".into(), 50, 100, false)]);
    let o3 = s
        .get_ok(&format!("/api/orders/{}?min_version=4", shop.o3))
        .await;
    assert_eq!(
        (o3["status"].clone(), o3["version"].clone()),
        (json!("confirmed"), json!(4))
    );
    assert_eq!(o3["total_minor"], 450);

    // The customer: limit changed to 1500.00, 4.50 still reserved for the confirmed order.
    let path = format!(
        "/api/customers/{}?min_version={}",
        shop.customer, shop.customer_version
    );
    let customer = s.get_ok(&path).await;
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["currency"], "EUR");
    assert_eq!(customer["credit_limit"], 150_000);
    assert_eq!(customer["reserved_credit"], 450);
    assert_eq!(customer["available_credit"], 149_550);
    assert_eq!(customer["version"], shop.customer_version);

    // Payments: refunded for the cancelled order, authorized for the confirmed one, none for
    // the rejected one.
    let p1 = s
        .get_ok(&format!("/api/orders/{}/payment?min_version=2", shop.o1))
        .await;
    assert_eq!(p1["status"], "refunded");
    assert_eq!(
        (p1["amount_minor"].clone(), p1["currency"].clone()),
        (json!(2100), json!("EUR"))
    );
    assert_eq!(p1["customer_id"], shop.customer.as_str());
    assert!(
        p1["authorized_at"].is_string() && p1["refunded_at"].is_string(),
        "{p1}"
    );
    assert_eq!(p1["voided_at"], Value::Null);
    assert!(
        time(&p1["authorized_at"]) < time(&p1["refunded_at"]),
        "{p1}"
    );
    let p3 = s
        .get_ok(&format!("/api/orders/{}/payment?min_version=1", shop.o3))
        .await;
    assert_eq!(
        (p3["status"].clone(), p3["amount_minor"].clone()),
        (json!("authorized"), json!(450))
    );
    assert_eq!(
        s.get(&format!("/api/orders/{}/payment", shop.o2)).await.0,
        404
    );

    // Notifications: exactly what would be sent, once each.
    let expected: BTreeSet<(String, String, String)> = [
        (
            &shop.o1,
            "order_confirmed",
            format!(
                "Your order {} is confirmed; 21.00 EUR will be charged.",
                shop.o1
            ),
        ),
        (
            &shop.o1,
            "order_cancelled",
            format!("Your order {} was cancelled: changed my mind.", shop.o1),
        ),
        (
            &shop.o1,
            "payment_refunded",
            format!("21.00 EUR was refunded for your order {}.", shop.o1),
        ),
        (
            &shop.o2,
            "order_rejected",
            format!(
                "Your order {} was rejected: MUG-9 is out of stock.",
                shop.o2
            ),
        ),
        (
            &shop.o3,
            "order_confirmed",
            format!(
                "Your order {} is confirmed; 4.50 EUR will be charged.",
                shop.o3
            ),
        ),
    ]
    .into_iter()
    .map(|(o, k, m)| (o.clone(), k.to_owned(), m))
    .collect();
    let notifications = eventually(WAIT, "five notifications", || async {
        let page = s
            .get_ok(&format!("/api/notifications?customer_id={}", shop.customer))
            .await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() >= expected.len()).then_some(items)
    })
    .await;
    let got: BTreeSet<(String, String, String)> = notifications
        .iter()
        .map(|n| {
            assert_eq!(n["customer_id"], shop.customer.as_str());
            (text(&n["order_id"]), text(&n["kind"]), text(&n["message"]))
        })
        .collect();
    assert_eq!(notifications.len(), 5, "{notifications:?}");
    assert_eq!(got, expected);

    // The timeline of order 1: every step of all four participants, in order, one trace.
    let timeline = s.wait_for_timeline(&shop.o1, 14).await;
    let steps: Vec<(String, String, String)> = timeline
        .iter()
        .map(|t| {
            (
                text(&t["participant"]),
                text(&t["event_type"]),
                text(&t["outcome"]),
            )
        })
        .collect();
    let expected_steps = [
        ("order", "OrderPlaced", "placed"),
        ("inventory", "StockReserved", "reserved"),
        ("order", "OrderLineReserved", "line_reserved"),
        ("inventory", "StockReserved", "reserved"),
        ("order", "OrderLineReserved", "line_reserved"),
        ("order", "OrderAwaitingPayment", "awaiting_payment"),
        ("credit", "CreditReserved", "reserved"),
        ("payment", "PaymentAuthorized", "authorized"),
        ("order", "OrderConfirmed", "confirmed"),
        ("order", "OrderCancelled", "cancelled"),
        ("payment", "PaymentRefunded", "refunded"),
        ("inventory", "StockReleased", "released"),
        ("inventory", "StockReleased", "released"),
        ("credit", "CreditReleased", "released"),
    ]
    .map(|(p, e, o)| (p.to_owned(), e.to_owned(), o.to_owned()));
    assert_eq!(steps, expected_steps);
    let mut event_ids = BTreeSet::new();
    for (step, previous) in timeline.iter().skip(1).zip(&timeline) {
        assert!(
            time(&step["timestamp"]) >= time(&previous["timestamp"]),
            "{timeline:?}"
        );
    }
    for step in &timeline {
        assert_eq!(step["trace_id"], shop.trace_o1.as_str(), "{step}");
        // Each step links to its trace in the configured Jaeger UI (read_api.jaeger_ui_url).
        assert_eq!(
            step["jaeger_url"],
            format!("http://127.0.0.1:16686/trace/{}", shop.trace_o1),
            "{step}"
        );
        assert!(
            event_ids.insert(text(&step["event_id"])),
            "event ids are unique"
        );
        // The time is the event's own (the relay's `recorded_at` header), not the projection's.
        let recorded_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT recorded_at FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(text(&step["aggregate_type"]))
        .bind(text(&step["aggregate_id"]))
        .bind(step["sequence"].as_i64().unwrap())
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
        assert_eq!(time(&step["timestamp"]), recorded_at, "{step}");
    }
    let o2_steps = s.wait_for_timeline(&shop.o2, 3).await;
    let outcomes: Vec<String> = o2_steps.iter().map(|t| text(&t["outcome"])).collect();
    assert_eq!(outcomes, ["placed", "rejected", "rejected"]);
    assert!(
        o2_steps
            .iter()
            .all(|t| t["trace_id"] == shop.trace_o2.as_str())
    );
    stack.workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_delivering_every_event_to_every_read_model_changes_nothing() {
    let mut stack = Stack::start().await;
    let shop = stack.run_sagas().await;
    stack.wait_for_timeline(&shop.o1, 14).await;
    stack.wait_for_timeline(&shop.o3, 7).await;
    // Everything of the last steps is in: the customer's final version, five notifications.
    let path = format!(
        "/api/customers/{}?min_version={}",
        shop.customer, shop.customer_version
    );
    stack.get_ok(&path).await;
    eventually(WAIT, "five notifications", || async {
        (count(&stack.db.pool, "notifications").await == 5).then_some(())
    })
    .await;
    // Every projection has consumed everything once its stored offsets stop moving; only
    // then are the rows and offsets compared against a complete re-delivery.
    let mut last = offsets(&stack.db.pool).await;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = offsets(&stack.db.pool).await;
        if now == last {
            break;
        }
        last = now;
    }
    stack.workers.stop().await;
    let before = snapshot(&stack.db.pool).await;
    let consumed = offsets(&stack.db.pool).await;
    let reset = sqlx::query("UPDATE projection_offsets SET next_offset = 0")
        .execute(&stack.db.pool)
        .await
        .unwrap();
    assert!(
        reset.rows_affected() >= 9,
        "nine (projection, topic) pairs at least"
    );

    stack.workers = Workers::start(&stack.settings, &stack.db.pool);
    eventually(
        WAIT,
        "every projection to re-consume up to where it was",
        || {
            let pool = stack.db.pool.clone();
            let consumed = consumed.clone();
            async move { (offsets(&pool).await == consumed).then_some(()) }
        },
    )
    .await;
    stack.workers.stop().await;
    let after = snapshot(&stack.db.pool).await;
    for (table, rows) in &before {
        assert!(!rows.is_empty(), "{table} has rows to compare");
        assert_eq!(rows, &after[table], "re-delivery changed {table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyset_pages_return_every_order_exactly_once_in_a_stable_order() {
    let mut stack = Stack::start().await;
    let s = &stack;
    let ada = s.register("ada@example.com").await;
    let bob = s.register("bob@example.com").await;
    let mut adas = BTreeSet::new();
    for _ in 0..23 {
        adas.insert(s.place(&ada, "TEA-1", None).await.0);
    }
    for _ in 0..4 {
        s.place(&bob, "TEA-1", None).await;
    }
    s.wait_for_orders(27).await;

    // Ada's orders in pages of 5; two newer orders arrive after the first page.
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("/api/orders?customer_id={ada}&limit=5");
    let mut pages = 0;
    loop {
        let page = s.get_ok(&path).await;
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        if pages == 1 {
            s.place(&ada, "TEA-1", None).await;
            s.place(&ada, "TEA-1", None).await;
            s.wait_for_orders(29).await;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/orders?customer_id={ada}&limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 5, "23 orders in pages of 5");
    let ids: Vec<String> = seen.iter().map(|o| text(&o["order_id"])).collect();
    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        adas,
        "every order exactly once"
    );
    assert_eq!(ids.len(), 23, "no order twice");
    let keys: Vec<(DateTime<FixedOffset>, String)> = seen
        .iter()
        .map(|o| (time(&o["placed_at"]), text(&o["order_id"])))
        .collect();
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, newest_first, "placed_at, then order_id, newest first");

    // Everyone's orders, filtered by status, and the default limit.
    let all = collect_pages(s, "/api/orders?limit=7").await;
    assert_eq!(all.len(), 29);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 29);
    let pending = s
        .get_ok(&format!("/api/orders?customer_id={bob}&status=pending"))
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 4);
    assert_eq!(pending["next_cursor"], Value::Null);
    let confirmed = s
        .get_ok(&format!("/api/orders?customer_id={bob}&status=confirmed"))
        .await;
    assert_eq!(confirmed["items"], json!([]));
    stack.workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_parameters_are_400_naming_them_unknown_ids_404_and_a_late_version_503() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let get = |path: String| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let customer = Uuid::new_v4();
    for (path, parameter) in [
        ("/api/orders?limit=0".to_owned(), "limit"),
        ("/api/orders?limit=501".to_owned(), "limit"),
        ("/api/orders?limit=ten".to_owned(), "limit"),
        ("/api/orders?status=shipped".to_owned(), "status"),
        ("/api/orders?customer_id=bob".to_owned(), "customer_id"),
        ("/api/orders?cursor=zz".to_owned(), "cursor"),
        ("/api/notifications".to_owned(), "customer_id"),
        (
            format!("/api/notifications?customer_id={customer}&cursor=00"),
            "cursor",
        ),
        (
            format!("/api/notifications?customer_id={customer}&limit=-1"),
            "limit",
        ),
        (
            format!("/api/orders/{customer}?min_version=soon"),
            "min_version",
        ),
        (
            format!("/api/customers/{customer}?min_version=-2"),
            "min_version",
        ),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    let unknown = Uuid::new_v4();
    for path in [
        format!("/api/orders/{unknown}"),
        format!("/api/customers/{unknown}"),
        format!("/api/orders/{unknown}/payment"),
        format!("/api/orders/{unknown}/saga"),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(
            (status, text(&body["code"])),
            (404, "not_found".to_owned()),
            "{path}"
        );
    }
    let (status, empty) = get(format!("/api/notifications?customer_id={customer}")).await;
    assert_eq!(status, 200);
    assert_eq!(empty, json!({"items": [], "next_cursor": null}));

    // A customer at version 2 asked for version 3: a bounded wait, then 503, never stale data.
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO customers (customer_id, name, email, currency, credit_limit,
                                reserved_credit, available_credit, updated_at, version)
         VALUES ($1, 'Ada', 'ada@example.com', 'EUR', 100, 0, 100, now(), 2)",
    )
    .bind(&id)
    .execute(&db.pool)
    .await
    .unwrap();
    let (status, body) = get(format!("/api/customers/{id}?min_version=2")).await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)));
    let started = tokio::time::Instant::now();
    let (status, body) = get(format!("/api/customers/{id}?min_version=3")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "read_model_behind");
    assert_eq!(
        (body["applied_version"].clone(), body["min_version"].clone()),
        (json!(2), json!(3))
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited before giving up"
    );
    let (status, _) = get(format!("/api/orders/{unknown}?min_version=1")).await;
    assert_eq!(
        status, 503,
        "an order not projected yet is behind, not missing"
    );
}

// ---- the stack and the saga sequence ----

/// A database, the relay, the projection workers and the HTTP API.
struct Stack {
    db: TestDatabase,
    settings: Settings,
    app: TestApp,
    store: CommandStore,
    workers: Workers,
    _relay: RelayProcess,
}

/// What [`Stack::run_sagas`] did.
struct Shop {
    customer: String,
    customer_version: u64,
    o1: String,
    o1_version: u64,
    o2: String,
    o3: String,
    trace_o1: String,
    trace_o2: String,
}

impl Stack {
    async fn start() -> Self {
        let db = TestDatabase::migrated().await;
        let settings = isolated_relay_settings(&db.settings, 100);
        let relay = RelayProcess::start(&settings);
        let workers = Workers::start(&settings, &db.pool);
        let app = TestApp::spawn(settings.clone()).await;
        let store = CommandStore::new(db.pool.clone(), 100);
        Self {
            db,
            settings,
            app,
            store,
            workers,
            _relay: relay,
        }
    }

    /// Order 1 is confirmed then cancelled (refund, stock and credit released); order 2 is
    /// rejected out of stock; order 3 is confirmed and stays so. The steps the saga
    /// participants would take run through the command store, in the trace of their order.
    async fn run_sagas(&self) -> Shop {
        let customer = self.register("ada@example.com").await;
        for (sku, units) in [("TEA-1", 10), ("CUP-2", 5), ("MUG-9", 3)] {
            let answer = self
                .post(
                    &format!("/api/inventory/{sku}/restock"),
                    json!({"quantity": units}),
                    None,
                )
                .await;
            assert_eq!(answer.0, 200, "{answer:?}");
        }
        let (trace_o1, trace_o2, trace_o3) = (trace(), trace(), trace());
        let o1 = self
            .place_lines(
                &customer,
                json!([
                    {"sku": "tea-1", "quantity": 2, "unit_price_cents": 450},
                    {"sku": "cup-2", "quantity": 1, "unit_price_cents": 1200},
                ]),
                &trace_o1,
            )
            .await;
        self.confirm(
            &o1,
            &customer,
            &[("TEA-1", 2), ("CUP-2", 1)],
            2100,
            &trace_o1,
        )
        .await;
        let cancel = self
            .post(
                &format!("/api/orders/{o1}/cancel"),
                json!({"reason": "changed my mind"}),
                Some(&trace_o1),
            )
            .await;
        assert_eq!(cancel.0, 200, "{cancel:?}");
        let o1_version = cancel.1["version"].as_u64().unwrap();
        self.step::<Payment>(&o1, PaymentCommand::Refund, &trace_o1)
            .await;
        for sku in ["TEA-1", "CUP-2"] {
            self.step::<InventoryItem>(
                sku,
                InventoryCommand::Release {
                    order_id: order_id(&o1),
                },
                &trace_o1,
            )
            .await;
        }
        self.step::<Customer>(
            &customer,
            CustomerCommand::ReleaseCredit {
                order_id: order_id(&o1),
            },
            &trace_o1,
        )
        .await;

        let o2 = self
            .place_lines(
                &customer,
                json!([{"sku": "mug-9", "quantity": 50, "unit_price_cents": 100}]),
                &trace_o2,
            )
            .await;
        let reserve = InventoryCommand::Reserve {
            order_id: order_id(&o2),
            quantity: Quantity::parse(50).unwrap(),
        };
        self.step::<InventoryItem>("MUG-9", reserve, &trace_o2)
            .await;
        let reject = OrderCommand::Reject {
            reason: RejectionReason::OutOfStock {
                sku: Sku::parse("MUG-9").unwrap(),
            },
        };
        self.step::<Order>(&o2, reject, &trace_o2).await;

        let limit = self
            .post(
                &format!("/api/customers/{customer}/credit-limit"),
                json!({"credit_limit_cents": 150_000}),
                None,
            )
            .await;
        assert_eq!(limit.0, 200, "{limit:?}");
        let o3 = self
            .place_lines(
                &customer,
                json!([{"sku": "tea-1", "quantity": 1, "unit_price_cents": 450}]),
                &trace_o3,
            )
            .await;
        let customer_version = self
            .confirm(&o3, &customer, &[("TEA-1", 1)], 450, &trace_o3)
            .await;
        Shop {
            customer,
            customer_version,
            o1,
            o1_version,
            o2,
            o3,
            trace_o1,
            trace_o2,
        }
    }

    /// Reserves every line and the credit, authorizes and confirms; answers the customer's
    /// version after its credit reservation.
    async fn confirm(
        &self,
        order: &str,
        customer: &str,
        lines: &[(&str, u32)],
        total: i64,
        trace: &str,
    ) -> u64 {
        for (sku, units) in lines {
            let reserve = InventoryCommand::Reserve {
                order_id: order_id(order),
                quantity: Quantity::parse(*units).unwrap(),
            };
            self.step::<InventoryItem>(sku, reserve, trace).await;
            let mark = OrderCommand::MarkLineReserved {
                sku: Sku::parse(sku).unwrap(),
            };
            self.step::<Order>(order, mark, trace).await;
        }
        let reserve = CustomerCommand::ReserveCredit {
            order_id: order_id(order),
            amount: eur(total),
        };
        let customer_version = self.step::<Customer>(customer, reserve, trace).await;
        let customer_id = CustomerId::parse(customer).unwrap();
        self.step::<Payment>(
            order,
            PaymentCommand::Authorize {
                customer_id,
                amount: eur(total),
            },
            trace,
        )
        .await;
        self.step::<Order>(order, OrderCommand::Confirm, trace)
            .await;
        customer_version
    }

    /// Runs one command as a saga participant would, in `trace`; answers the new version.
    async fn step<A: Aggregate>(&self, id: &str, command: A::Command, trace: &str) -> u64 {
        let mut metadata = CommandMetadata::new(Uuid::new_v4(), "read-model-tests");
        metadata.traceparent = Some(traceparent(trace));
        match self.store.execute::<A>(id, command, &metadata).await {
            Ok(committed) => {
                assert!(
                    !committed.events.is_empty(),
                    "{id}: the step stored an event"
                );
                committed.version
            }
            Err(error) => panic!("{id}: {error:?}"),
        }
    }

    async fn register(&self, email: &str) -> String {
        let body = json!({"name": "Ada Lovelace", "email": email, "credit_limit_cents": 100_000, "currency": "EUR"});
        let answer = self.post("/api/customers", body, None).await;
        assert_eq!(answer.0, 201, "{answer:?}");
        text(&answer.1["customer_id"])
    }

    async fn place(&self, customer: &str, sku: &str, trace: Option<&str>) -> (String, u64) {
        let lines = json!([{"sku": sku, "quantity": 1, "unit_price_cents": 100}]);
        let body = json!({"customer_id": customer, "currency": "EUR", "lines": lines});
        let answer = self.post("/api/orders", body, trace).await;
        assert_eq!(answer.0, 202, "{answer:?}");
        (
            text(&answer.1["order_id"]),
            answer.1["version"].as_u64().unwrap(),
        )
    }

    async fn place_lines(&self, customer: &str, lines: Value, trace: &str) -> String {
        let body = json!({"customer_id": customer, "currency": "EUR", "lines": lines});
        let answer = self.post("/api/orders", body, Some(trace)).await;
        assert_eq!(answer.0, 202, "{answer:?}");
        text(&answer.1["order_id"])
    }

    async fn post(&self, path: &str, body: Value, trace: Option<&str>) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .json(&body);
        if let Some(trace) = trace {
            request = request.header("traceparent", traceparent(trace));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.app.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn wait_for_timeline(&self, order: &str, steps: usize) -> Vec<Value> {
        eventually(WAIT, &format!("{steps} steps of {order}"), || async {
            let (status, body) = self.get(&format!("/api/orders/{order}/saga")).await;
            let found = body["steps"].as_array().cloned().unwrap_or_default();
            (status == 200 && found.len() >= steps).then_some(found)
        })
        .await
    }

    async fn wait_for_orders(&self, n: i64) {
        eventually(WAIT, &format!("{n} orders projected"), || async {
            (count(&self.db.pool, "orders").await >= n).then_some(())
        })
        .await;
    }
}

/// The five projections, each a worker in this process with its own stop channel.
struct Workers {
    stops: Vec<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    fn start(settings: &Settings, pool: &PgPool) -> Self {
        let mut workers = Self {
            stops: Vec::new(),
            tasks: Vec::new(),
        };
        workers.add(settings, pool, OrdersProjection);
        workers.add(settings, pool, CustomersProjection);
        workers.add(settings, pool, PaymentsProjection);
        workers.add(settings, pool, NotificationsProjection);
        workers.add(settings, pool, SagaTimelineProjection);
        workers
    }

    fn add<P: Projection>(&mut self, settings: &Settings, pool: &PgPool, projection: P) {
        let codec = EventCodec::new(&settings.registry).unwrap();
        let config = WorkerConfig {
            batch_size: 50,
            ..WorkerConfig::default()
        };
        let worker = ProjectionWorker::new(
            &settings.kafka,
            &settings.telemetry,
            pool.clone(),
            codec,
            projection,
        )
        .with_config(config);
        let (stop, stopped) = watch::channel(false);
        self.tasks.push(tokio::spawn(worker.run(stopped)));
        self.stops.push(stop);
    }

    async fn stop(&mut self) {
        for stop in self.stops.drain(..) {
            stop.send(true).unwrap();
        }
        for task in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the worker stops when told")
                .unwrap();
        }
    }
}

// ---- helpers ----

fn trace() -> String {
    Uuid::new_v4().simple().to_string()
}

fn traceparent(trace: &str) -> String {
    format!(
        "00-{trace}-{}-01",
        &Uuid::new_v4().simple().to_string()[..16]
    )
}

fn order_id(id: &str) -> OrderId {
    OrderId::parse(id).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::parse(minor, Currency::parse("EUR").unwrap()).unwrap()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

fn time(value: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&text(value)).unwrap()
}

fn lines(order: &Value) -> Vec<(String, i64, i64, bool)> {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                text(&l["sku"]),
                l["quantity"].as_i64().unwrap(),
                l["unit_price_minor"].as_i64().unwrap(),
                l["reserved"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn collect_pages(stack: &Stack, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = stack.get_ok(&path).await;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| text(&o["order_id"])),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => return ids,
        }
    }
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

const TABLES: [&str; 6] = [
    "orders",
    "order_lines",
    "customers",
    "payments",
    "notifications",
    "saga_timeline",
];

/// Every row of every read model, as JSON text, in a fixed order.
async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut tables = BTreeMap::new();
    for table in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text AS r FROM {table} t ORDER BY 1"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        tables.insert(table, rows);
    }
    tables
}

async fn offsets(pool: &PgPool) -> BTreeMap<(String, String, i32), i64> {
    let rows: Vec<(String, String, i32, i64)> =
        sqlx::query_as("SELECT projection, topic, partition, next_offset FROM projection_offsets")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(p, t, n, o)| ((p, t, n), o))
        .collect()
}

/// What the workers and rebuilds do (one set-based `apply_batch` per batch) writes exactly
/// what applying each event of each batch one by one (`apply`) writes, for every read model
/// that holds an aggregate's state: deliveries overlap what was already applied, skip ahead,
/// hold several events of one aggregate, re-deliver within themselves. Real Postgres, one
/// database per way; proptest shrinks a failing case to a small history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applying_a_batch_set_based_writes_exactly_what_applying_its_events_one_by_one_writes() {
    let one_by_one = TestDatabase::migrated().await;
    let batched = TestDatabase::migrated().await;
    let handle = tokio::runtime::Handle::current();
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&batches::case(), |case| {
            handle
                .block_on(batches::check(&one_by_one.pool, &batched.pool, &case))
                .map_err(TestCaseError::fail)
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Histories and deliveries for the batch property test.
mod batches {
    use causeway_domain::customer::{
        CreditDeclineReason, CreditLimitChanged, CreditReleased, CreditReservationDeclined,
        CreditReserved, CustomerRegistered,
    };
    use causeway_domain::inventory::{
        StockReleased, StockReservationRejected, StockReserved, StockRestocked,
    };
    use causeway_domain::order::{
        OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderExpired, OrderLineReserved,
        OrderPlaced, OrderRejected,
    };
    use causeway_domain::payment::{
        Authorization, PaymentAuthorized, PaymentDeclined, PaymentRefunded, PaymentVoided,
    };
    use causeway_domain::{
        CustomerEvent, CustomerName, Email, InventoryEvent, OrderEvent, OrderLine, PaymentEvent,
    };
    use causeway_projections::{EventHeaders, InventoryProjection};
    use proptest::prelude::*;

    use super::*;

    /// One event of the history: (aggregate, kind, amount); and the deliveries, as
    /// (start, length) slices of the history, each one batch.
    #[derive(Debug, Clone)]
    pub(super) struct Case {
        events: Vec<(usize, u8, u32)>,
        deliveries: Vec<(usize, usize)>,
    }

    pub(super) fn case() -> impl Strategy<Value = Case> {
        let events = prop::collection::vec((0..4usize, 0..8u8, 1..50u32), 1..24);
        events.prop_flat_map(|events| {
            let n = events.len();
            let deliveries = prop::collection::vec((0..n, 1..=n), 1..7);
            (Just(events), deliveries).prop_map(|(events, deliveries)| Case { events, deliveries })
        })
    }

    /// Both ways, for each state projection; the first difference found.
    pub(super) async fn check(a: &PgPool, b: &PgPool, case: &Case) -> Result<(), String> {
        let stream = history(case, |_, kind, n, first| inventory(kind, n, first));
        compare(
            &InventoryProjection,
            a,
            b,
            &stream,
            case,
            &["inventory_view"],
        )
        .await?;
        let stream = history(case, customer);
        compare(&CustomersProjection, a, b, &stream, case, &["customers"]).await?;
        let stream = history(case, order);
        let tables = ["orders", "order_lines"];
        compare(&OrdersProjection, a, b, &stream, case, &tables).await?;
        let stream = history(case, |_, kind, n, _| payment(kind, n));
        compare(&PaymentsProjection, a, b, &stream, case, &["payments"]).await
    }

    /// The case's events as envelopes: sequences per aggregate, a distinct event time each.
    fn history<E>(case: &Case, event: impl Fn(usize, u8, u32, bool) -> E) -> Vec<Envelope<E>> {
        let mut sequences = [0i64; 4];
        let start = DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z").unwrap();
        case.events
            .iter()
            .enumerate()
            .map(|(i, &(aggregate, kind, n))| {
                sequences[aggregate] += 1;
                let at = start + chrono::Duration::seconds(i as i64);
                Envelope {
                    aggregate_id: format!("agg-{aggregate}"),
                    sequence: sequences[aggregate],
                    event: event(aggregate, kind, n, sequences[aggregate] == 1),
                    headers: EventHeaders {
                        recorded_at: Some(at.with_timezone(&Utc)),
                        ..EventHeaders::default()
                    },
                }
            })
            .collect()
    }

    async fn compare<P: Projection>(
        projection: &P,
        one_by_one: &PgPool,
        batched: &PgPool,
        stream: &[Envelope<P::Event>],
        case: &Case,
        tables: &[&str],
    ) -> Result<(), String> {
        for pool in [one_by_one, batched] {
            sqlx::query(&format!("TRUNCATE {}", tables.join(", ")))
                .execute(pool)
                .await
                .unwrap();
        }
        for &(start, len) in &case.deliveries {
            let slice = &stream[start..(start + len).min(stream.len())];
            let mut tx = one_by_one.begin().await.unwrap();
            for envelope in slice {
                projection.apply(&mut tx, envelope).await.unwrap();
            }
            tx.commit().await.unwrap();
            let mut tx = batched.begin().await.unwrap();
            projection.apply_batch(&mut tx, slice).await.unwrap();
            tx.commit().await.unwrap();
        }
        for table in tables {
            let (expected, actual) = (rows(one_by_one, table).await, rows(batched, table).await);
            if expected != actual {
                return Err(format!(
                    "{table} differs\none by one: {expected:#?}\nbatched:    {actual:#?}"
                ));
            }
        }
        Ok(())
    }

    /// Every row of `table` as JSON text, without `inventory_view.updated_at` (`now()`).
    async fn rows(pool: &PgPool, table: &str) -> Vec<String> {
        sqlx::query_scalar(&format!(
            "SELECT (to_jsonb(t) - CASE WHEN $1 = 'inventory_view' THEN 'updated_at' ELSE '' END)::text
             FROM {table} t ORDER BY 1"
        ))
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    fn eur(minor: u32) -> Money {
        Money::parse(i64::from(minor), Currency::parse("EUR").unwrap()).unwrap()
    }

    fn customer_id(n: u32) -> CustomerId {
        CustomerId::parse(&Uuid::from_u128(u128::from(n % 3) + 1).to_string()).unwrap()
    }

    fn order_ref(n: u32) -> OrderId {
        OrderId::parse(&Uuid::from_u128(u128::from(n) + 100).to_string()).unwrap()
    }

    fn sku(n: u32) -> Sku {
        Sku::parse(&format!("SKU-{}", n % 3)).unwrap()
    }

    fn quantity(n: u32) -> Quantity {
        Quantity::parse(n).unwrap()
    }

    fn inventory(kind: u8, n: u32, _first: bool) -> InventoryEvent {
        match kind % 4 {
            0 => InventoryEvent::StockRestocked(StockRestocked {
                quantity: quantity(n),
            }),
            1 => InventoryEvent::StockReserved(StockReserved {
                order_id: order_ref(n),
                quantity: quantity(n),
            }),
            2 => InventoryEvent::StockReservationRejected(StockReservationRejected {
                order_id: order_ref(n),
                requested: quantity(n),
                available: n / 2,
            }),
            _ => InventoryEvent::StockReleased(StockReleased {
                order_id: order_ref(n),
                quantity: quantity(n),
            }),
        }
    }

    /// A registration first; later, mostly credit moves, sometimes a second registration.
    fn customer(aggregate: usize, kind: u8, n: u32, first: bool) -> CustomerEvent {
        match if first { 0 } else { kind % 5 } {
            0 => CustomerEvent::CustomerRegistered(CustomerRegistered {
                name: CustomerName::parse(&format!("Customer {aggregate} {n}")).unwrap(),
                email: Email::parse(&format!("c{aggregate}.{n}@example.com")).unwrap(),
                credit_limit: eur(n * 100),
            }),
            1 => CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: eur(n * 10) }),
            2 => CustomerEvent::CreditReserved(CreditReserved {
                order_id: order_ref(n),
                amount: eur(n),
            }),
            3 => CustomerEvent::CreditReleased(CreditReleased {
                order_id: order_ref(n),
                amount: eur(n),
            }),
            _ => CustomerEvent::CreditReservationDeclined(CreditReservationDeclined {
                order_id: order_ref(n),
                amount: eur(n),
                available: eur(1),
                reason: CreditDeclineReason::InsufficientCredit,
            }),
        }
    }

    /// A placement first; later every other order event, sometimes a second placement.
    fn order(_aggregate: usize, kind: u8, n: u32, first: bool) -> OrderEvent {
        let customer_id = customer_id(n);
        let skus = vec![sku(n)];
        match if first { 0 } else { kind % 8 } {
            0 => {
                let lines: Vec<OrderLine> = (0..1 + n % 3)
                    .map(|i| OrderLine {
                        sku: sku(i),
                        quantity: quantity(1 + i),
                        unit_price: eur(n + i),
                    })
                    .collect();
                let at = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap();
                OrderEvent::OrderPlaced(OrderPlaced {
                    customer_id,
                    currency: Currency::parse("EUR").unwrap(),
                    total: eur(n * 3),
                    placed_at: at.with_timezone(&Utc) + chrono::Duration::seconds(n.into()),
                    deadline: at.with_timezone(&Utc) + chrono::Duration::hours(1),
                    lines,
                })
            }
            1 | 2 => OrderEvent::OrderLineReserved(OrderLineReserved { sku: sku(n) }),
            3 => OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
                customer_id,
                amount: eur(n),
            }),
            4 => OrderEvent::OrderConfirmed(OrderConfirmed {
                customer_id,
                total: eur(n),
            }),
            5 => OrderEvent::OrderRejected(OrderRejected {
                customer_id,
                reason: if n.is_multiple_of(2) {
                    RejectionReason::OutOfStock { sku: sku(n) }
                } else {
                    RejectionReason::PaymentDeclined {
                        reason: format!("declined {n}"),
                    }
                },
                skus,
            }),
            6 => OrderEvent::OrderCancelled(OrderCancelled {
                customer_id,
                reason: format!("changed my mind {n}"),
                was_confirmed: n.is_multiple_of(2),
                skus,
            }),
            _ => {
                let at = DateTime::parse_from_rfc3339("2026-11-29T11:00:00Z").unwrap();
                OrderEvent::OrderExpired(OrderExpired {
                    customer_id,
                    deadline: at.with_timezone(&Utc),
                    expired_at: at.with_timezone(&Utc) + chrono::Duration::seconds(n.into()),
                    skus,
                })
            }
        }
    }

    fn payment(kind: u8, n: u32) -> PaymentEvent {
        match kind % 5 {
            0 => PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                customer_id: customer_id(n),
                amount: eur(n),
            }),
            1 => PaymentEvent::PaymentDeclined(PaymentDeclined {
                customer_id: customer_id(n),
                amount: eur(n),
                reason: format!("insufficient credit {n}"),
            }),
            2 => PaymentEvent::PaymentVoided(PaymentVoided {
                voided_authorization: None,
            }),
            3 => PaymentEvent::PaymentVoided(PaymentVoided {
                voided_authorization: Some(Authorization {
                    customer_id: customer_id(n),
                    amount: eur(n),
                }),
            }),
            _ => PaymentEvent::PaymentRefunded(PaymentRefunded {
                customer_id: customer_id(n),
                amount: eur(n),
            }),
        }
    }
}
