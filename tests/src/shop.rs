//! A shop on the real stack for saga tests: the platform with every role in this process
//! (or some in a child process), isolated topics and database, and typed helpers that issue
//! commands over HTTP and read the read models.

use std::collections::BTreeMap;
use std::time::Duration;

use causeway::roles::{Role, Roles};
use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::relay_support::isolated_relay_settings;
use crate::{TestApp, TestDatabase, eventually};

/// A SKU of its own (upper case), named after `name`.
pub fn new_sku(name: &str) -> String {
    crate::unique(&format!("sku-{name}")).to_uppercase()
}

/// The final order states.
pub const FINAL: [&str; 4] = ["confirmed", "rejected", "cancelled", "expired"];

/// Settings for a shop of its own: isolated topics, relay and consumer groups, fast retries
/// and deadline polling.
pub fn shop_settings(database: &Settings) -> Settings {
    let mut settings = isolated_relay_settings(database, 1000);
    settings.relay.poll_interval_ms = 10;
    settings.sagas.reaction_backoff_ms = 20;
    settings.sagas.reaction_backoff_max_ms = 200;
    settings.sagas.deadline_poll_ms = 100;
    settings.telemetry.otlp_endpoint = String::new();
    settings.database.max_connections = 16;
    settings.database.acquire_timeout_ms = 30_000;
    settings
}

/// A running shop: the platform, its database and its HTTP client.
pub struct Shop {
    /// The platform serving HTTP (and the roles asked for).
    pub app: TestApp,
    /// The shop's database.
    pub pool: PgPool,
    /// Its settings.
    pub settings: Settings,
}

impl Shop {
    /// A new database and the platform with every role.
    pub async fn start() -> Self {
        let db = TestDatabase::migrated().await;
        let settings = shop_settings(&db.settings);
        Self::start_with(db.pool, settings, &Roles::all()).await
    }

    /// The platform with `roles` on an existing database and settings.
    pub async fn start_with(pool: PgPool, settings: Settings, roles: &Roles) -> Self {
        let app = TestApp::spawn_with_roles(settings.clone(), roles).await;
        Self {
            app,
            pool,
            settings,
        }
    }

    /// Every role but the sagas (for tests that run the participants elsewhere).
    pub fn roles_without_sagas() -> Roles {
        Roles::only([
            Role::CommandApi,
            Role::ReadApi,
            Role::Relay,
            Role::Projections,
        ])
    }

    /// Stops the platform and waits for its roles to finish.
    pub async fn stop(self) -> (PgPool, Settings) {
        self.app.stop().await;
        (self.pool, self.settings)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .json(&body)
            .send()
            .await
            .expect("request to the app");
        let status = response.status();
        let answer: Value = response.json().await.expect("a JSON answer");
        assert!(
            status.is_success(),
            "POST {path} answered {status}: {answer}"
        );
        answer
    }

    /// Registers a customer with `limit` cents of EUR credit; answers the id.
    pub async fn customer(&self, limit: i64) -> String {
        let email = format!("{}@example.com", crate::unique("c"));
        let answer = self
            .post(
                "/api/customers",
                json!({"name": "Ada Lovelace", "email": email, "credit_limit_cents": limit, "currency": "EUR"}),
            )
            .await;
        answer["customer_id"]
            .as_str()
            .expect("customer_id")
            .to_owned()
    }

    /// Restocks `sku` with `quantity` units.
    pub async fn restock(&self, sku: &str, quantity: u32) {
        self.post(
            &format!("/api/inventory/{sku}/restock"),
            json!({ "quantity": quantity }),
        )
        .await;
    }

    /// Places an order of `(sku, quantity, unit price in cents)` lines; answers its id.
    pub async fn order(&self, customer: &str, lines: &[(&str, u32, i64)]) -> String {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, quantity, price)| {
                json!({"sku": sku, "quantity": quantity, "unit_price_cents": price})
            })
            .collect();
        let answer = self
            .post(
                "/api/orders",
                json!({"customer_id": customer, "currency": "EUR", "lines": lines}),
            )
            .await;
        answer["order_id"].as_str().expect("order_id").to_owned()
    }

    /// Cancels an order.
    pub async fn cancel(&self, order: &str, reason: &str) {
        self.post(
            &format!("/api/orders/{order}/cancel"),
            json!({ "reason": reason }),
        )
        .await;
    }

    /// The order's status in the read model, if it is there.
    pub async fn status(&self, order: &str) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM orders WHERE order_id = $1")
            .bind(order)
            .fetch_optional(&self.pool)
            .await
            .expect("read orders")
    }

    /// Waits until the order reaches `status` in the read model.
    pub async fn wait_for(&self, order: &str, status: &str, within: Duration) {
        eventually(within, &format!("order {order} to be {status}"), || async {
            (self.status(order).await.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    /// Waits until every order is final in the read model; answers the count per status.
    pub async fn wait_all_final(
        &self,
        orders: &[String],
        within: Duration,
    ) -> BTreeMap<String, usize> {
        eventually(within, "every order to reach a final state", || async {
            let statuses: Vec<String> =
                sqlx::query_scalar("SELECT status FROM orders WHERE order_id = ANY($1)")
                    .bind(orders)
                    .fetch_all(&self.pool)
                    .await
                    .expect("read orders");
            let all_final = statuses.len() == orders.len()
                && statuses.iter().all(|s| FINAL.contains(&s.as_str()));
            all_final.then(|| {
                statuses
                    .into_iter()
                    .fold(BTreeMap::new(), |mut counts, status| {
                        *counts.entry(status).or_insert(0) += 1;
                        counts
                    })
            })
        })
        .await
    }

    /// `(on_hand, reserved, available)` of a SKU in the read model, once it is there.
    pub async fn stock(&self, sku: &str) -> Option<(i64, i64, i64)> {
        sqlx::query_as("SELECT on_hand, reserved, available FROM inventory_view WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
            .expect("read inventory_view")
    }

    /// Waits until a SKU's stock reads `expected` in the read model.
    pub async fn wait_stock(&self, sku: &str, expected: (i64, i64, i64), within: Duration) {
        eventually(
            within,
            &format!("stock of {sku} to be {expected:?}"),
            || async { (self.stock(sku).await == Some(expected)).then_some(()) },
        )
        .await;
    }

    /// `(credit_limit, reserved_credit, available_credit)` of a customer in the read model,
    /// once it is there.
    pub async fn credit(&self, customer: &str) -> Option<(i64, i64, i64)> {
        sqlx::query_as(
            "SELECT credit_limit, reserved_credit, available_credit FROM customers WHERE customer_id = $1",
        )
        .bind(customer)
        .fetch_optional(&self.pool)
        .await
        .expect("read customers")
    }

    /// Waits until a customer's credit reads `expected` in the read model.
    pub async fn wait_credit(&self, customer: &str, expected: (i64, i64, i64), within: Duration) {
        eventually(
            within,
            &format!("credit of {customer} to be {expected:?}"),
            || async { (self.credit(customer).await == Some(expected)).then_some(()) },
        )
        .await;
    }

    /// Waits until the credit reserved over `customers` in the read model sums to `expected`,
    /// while every row stays consistent (reserved within its limit, reserved + available =
    /// limit). The customers projection may trail the orders read model: an order can read
    /// final before its customer's row shows the reservation.
    pub async fn wait_reserved_total(&self, customers: &[String], expected: i64, within: Duration) {
        let description = format!(
            "credit reserved over {} customers to be {expected}",
            customers.len()
        );
        eventually(within, &description, || async {
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT credit_limit, reserved_credit, available_credit FROM customers
                 WHERE customer_id = ANY($1)",
            )
            .bind(customers)
            .fetch_all(&self.pool)
            .await
            .expect("read customers");
            for &(limit, reserved, available) in &rows {
                assert!(
                    (0..=limit).contains(&reserved) && reserved + available == limit,
                    "a customer row is inconsistent: limit {limit}, reserved {reserved}, available {available}"
                );
            }
            let total: i64 = rows.iter().map(|r| r.1).sum();
            (rows.len() == customers.len() && total == expected).then_some(())
        })
        .await;
    }

    /// Waits until every projection has applied everything published on its topics: at most
    /// the closing transaction marker is left on each partition.
    pub async fn wait_read_models_caught_up(&self, within: Duration) {
        eventually(within, "every projection to catch up", || async {
            let rows = causeway_projections::status::status(&self.settings, &self.pool)
                .await
                .expect("projection status");
            rows.iter().all(|row| row.lag <= 1).then_some(())
        })
        .await;
    }

    /// Credit reserved minus credit released for `customers`, summed over the event store:
    /// the truth the customers read model follows.
    pub async fn stored_reserved_total(&self, customers: &[String]) -> i64 {
        sqlx::query_scalar(
            "SELECT COALESCE(sum(CASE event_type WHEN 'CreditReserved' THEN 1 ELSE -1 END
                                 * (payload->'data'->'amount'->>'amount_minor')::bigint), 0)::bigint
             FROM events
             WHERE aggregate_type = 'Customer' AND aggregate_id = ANY($1)
               AND event_type IN ('CreditReserved', 'CreditReleased')",
        )
        .bind(customers)
        .fetch_one(&self.pool)
        .await
        .expect("sum the stored credit reservations")
    }

    /// Waits until the credit reserved in the event store for `customers` (reservations
    /// minus releases) is `total`: an order rejected for stock releases the credit reserved
    /// beside its stock a step after it is final.
    pub async fn wait_stored_reserved_total(
        &self,
        customers: &[String],
        total: i64,
        within: Duration,
    ) {
        eventually(within, "the stored credit reservations", || async {
            (self.stored_reserved_total(customers).await == total).then_some(())
        })
        .await;
    }

    /// The payment's status in the read model, if any.
    pub async fn payment(&self, order: &str) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM payments WHERE order_id = $1")
            .bind(order)
            .fetch_optional(&self.pool)
            .await
            .expect("read payments")
    }

    /// Waits until the payment of `order` reads `status`.
    pub async fn wait_payment(&self, order: &str, status: &str, within: Duration) {
        eventually(
            within,
            &format!("payment of {order} to be {status}"),
            || async { (self.payment(order).await.as_deref() == Some(status)).then_some(()) },
        )
        .await;
    }

    /// The kinds of notification recorded for `order`, sorted.
    pub async fn notifications(&self, order: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM notifications WHERE order_id = $1 ORDER BY kind")
            .bind(order)
            .fetch_all(&self.pool)
            .await
            .expect("read notifications")
    }

    /// How many events the store holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// Deletes the saga participants' consumer groups, so they start again from offset 0.
/// Retries for up to 30 s while a group still has members (a killed participant's session
/// has not expired yet).
pub async fn forget_saga_offsets(settings: &Settings) {
    use rdkafka::types::RDKafkaErrorCode;
    let admin: AdminClient<DefaultClientContext> = client_config(&settings.kafka)
        .create()
        .expect("a Kafka admin client");
    let groups: Vec<String> = ["inventory", "payment", "order"]
        .iter()
        .map(|p| format!("{}saga.{p}", settings.kafka.topic_prefix))
        .collect();
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    eventually(
        Duration::from_secs(30),
        "the saga groups deleted",
        || async {
            let results = admin
                .delete_groups(&names, &AdminOptions::new())
                .await
                .expect("a delete-groups answer");
            results
                .iter()
                .all(|result| match result {
                    Ok(_) => true,
                    Err((_, code)) => *code == RDKafkaErrorCode::GroupIdNotFound,
                })
                .then_some(())
        },
    )
    .await;
}
