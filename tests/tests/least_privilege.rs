//! Least privilege in Postgres (migration 20261203000008, docs/security.md): each Causeway
//! role logs in as a user of its own group role and can do what the role needs and nothing
//! more; the whole platform runs with each role logged in that way; a projection rebuild
//! leaves the reader able to read the tables it swapped in.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_domain::InventoryItem;
use causeway_event_store::CommandStore;
use causeway_tests::event_store::{metadata, restock};
use causeway_tests::process::RoleProcess;
use causeway_tests::{TestDatabase, eventually, free_port, tokens, unique, wait_until_live};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const PASSWORD: &str = "least-privilege-test";

/// A login user, member of the group role `group`, dropped when the value is.
struct Login {
    name: String,
    owner: PgPool,
}

impl Login {
    async fn create(owner: &PgPool, group: &str) -> Self {
        // At most 63 bytes: the prefix scripts/drop-test-databases sweeps, and 12 hex digits.
        let name = format!(
            "causeway_test_login_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::raw_sql(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}' IN ROLE {group}"
        ))
        .execute(owner)
        .await
        .unwrap();
        Self {
            name,
            owner: owner.clone(),
        }
    }

    async fn pool(&self, db: &TestDatabase) -> PgPool {
        let mut settings = db.settings.database.clone();
        settings.username = self.name.clone();
        settings.password = Some(PASSWORD.to_owned().into());
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(settings.connect_options())
            .await
            .unwrap()
    }

    /// `CAUSEWAY_DATABASE__USERNAME` and `__PASSWORD` for a process that logs in as it.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("CAUSEWAY_DATABASE__USERNAME", self.name.clone()),
            ("CAUSEWAY_DATABASE__PASSWORD", PASSWORD.to_owned()),
        ]
    }

    async fn drop_now(self) {
        sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {}", self.name))
            .execute(&self.owner)
            .await
            .unwrap();
    }
}

/// Runs `sql` as the pool's user: `Ok` if allowed, `Err` with the SQLSTATE if not.
async fn try_sql(pool: &PgPool, sql: &str) -> Result<(), String> {
    match sqlx::raw_sql(sql).execute(pool).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) => Err(e.code().unwrap_or_default().into_owned()),
        Err(other) => panic!("{sql}: {other}"),
    }
}

const DENIED: &str = "42501"; // insufficient_privilege

#[tokio::test]
async fn each_role_can_do_what_it_needs_and_nothing_more() {
    let db = TestDatabase::migrated().await;
    let command = Login::create(&db.pool, "causeway_command").await;
    let relay = Login::create(&db.pool, "causeway_relay").await;
    let projector = Login::create(&db.pool, "causeway_projector").await;
    let reader = Login::create(&db.pool, "causeway_reader").await;

    // The command side appends through the event store, and touches no read model.
    let as_command = command.pool(&db).await;
    let store = CommandStore::new(as_command.clone(), 2);
    for _ in 0..3 {
        store
            .execute::<InventoryItem>("LP-1", restock(1), &metadata())
            .await
            .unwrap();
    }
    assert_eq!(
        try_sql(&as_command, "SELECT count(*) FROM order_deadlines").await,
        Ok(())
    );
    for sql in [
        "SELECT count(*) FROM orders",
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES ('x', 't', 0, 1)",
        "UPDATE customers SET credit_limit = 0",
        "DELETE FROM events",
    ] {
        assert_eq!(
            try_sql(&as_command, sql).await,
            Err(DENIED.into()),
            "command: {sql}"
        );
    }

    // The relay reads events, and writes nothing.
    let as_relay = relay.pool(&db).await;
    assert_eq!(
        try_sql(&as_relay, "SELECT count(*) FROM events").await,
        Ok(())
    );
    for sql in [
        "DELETE FROM events",
        "UPDATE events SET sequence = sequence WHERE false",
        "SELECT count(*) FROM snapshots",
        "SELECT count(*) FROM orders",
    ] {
        assert_eq!(
            try_sql(&as_relay, sql).await,
            Err(DENIED.into()),
            "relay: {sql}"
        );
    }

    // Projections write the read models and their offsets, and never read the store.
    let as_projector = projector.pool(&db).await;
    for sql in [
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES ('x', 't', 0, 1)",
        "DELETE FROM orders",
        "SELECT count(*) FROM saga_timeline",
    ] {
        assert_eq!(
            try_sql(&as_projector, sql).await,
            Ok(()),
            "projector: {sql}"
        );
    }
    for sql in [
        "SELECT count(*) FROM events",
        "DELETE FROM idempotency_keys",
    ] {
        assert_eq!(
            try_sql(&as_projector, sql).await,
            Err(DENIED.into()),
            "projector: {sql}"
        );
    }

    // The read API reads the read models, and nothing else.
    let as_reader = reader.pool(&db).await;
    for sql in [
        "SELECT count(*) FROM orders",
        "SELECT count(*) FROM order_lines",
        "SELECT count(*) FROM inventory_view",
        "SELECT count(*) FROM projection_offsets",
    ] {
        assert_eq!(try_sql(&as_reader, sql).await, Ok(()), "reader: {sql}");
    }
    for sql in [
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM idempotency_keys",
        "DELETE FROM orders",
        "UPDATE inventory_view SET on_hand = 0",
    ] {
        assert_eq!(
            try_sql(&as_reader, sql).await,
            Err(DENIED.into()),
            "reader: {sql}"
        );
    }

    for pool in [as_command, as_relay, as_projector, as_reader] {
        pool.close().await;
    }
    for login in [command, relay, projector, reader] {
        login.drop_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_platform_runs_with_each_role_logged_in_as_a_user_of_its_own_group() {
    let db = TestDatabase::migrated().await;
    let mut logins = Vec::new();
    let mut processes = Vec::new();
    let mut urls = std::collections::BTreeMap::new();
    for (role, group) in [
        ("command-api", "causeway_command"),
        ("relay", "causeway_relay"),
        ("projections", "causeway_projector"),
        ("sagas", "causeway_command"),
        ("read-api", "causeway_reader"),
    ] {
        let login = Login::create(&db.pool, group).await;
        let port = if role.ends_with("api") {
            free_port()
        } else {
            0
        };
        let process = RoleProcess::command(role, &db.settings)
            .port(port)
            .envs(login.env())
            .start();
        if port != 0 {
            urls.insert(role, process.base_url());
        }
        processes.push(process);
        logins.push(login);
    }
    let client = tokens::admin_client().await;
    let (api, read) = (&urls["command-api"], &urls["read-api"]);
    wait_until_live(&client, api).await;
    wait_until_live(&client, read).await;

    let post = |path: String, body: Value| {
        let client = client.clone();
        async move {
            let response = client.post(path).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        }
    };
    let sku = unique("LP").to_uppercase();
    post(
        format!("{api}/api/inventory/{sku}/restock"),
        json!({"quantity": 5}),
    )
    .await;
    let customer = post(
        format!("{api}/api/customers"),
        json!({"name": "Least Privilege", "email": format!("{}@example.com", unique("lp")),
               "credit_limit_cents": 10_000, "currency": "EUR"}),
    )
    .await;
    let order = post(
        format!("{api}/api/orders"),
        json!({"customer_id": customer["customer_id"], "currency": "EUR",
               "lines": [{"sku": sku, "quantity": 2, "unit_price_cents": 100}]}),
    )
    .await;
    let url = format!("{read}/api/orders/{}", order["order_id"].as_str().unwrap());
    let status = eventually(Duration::from_secs(60), "the order to be final", || async {
        let body: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        let status = body["status"].as_str()?.to_owned();
        causeway_tests::shop::FINAL
            .contains(&status.as_str())
            .then_some(status)
    })
    .await;
    assert_eq!(status, "confirmed");
    let stock: Value = client
        .get(format!("{read}/api/inventory/{sku}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (stock["on_hand"].clone(), stock["reserved"].clone()),
        (json!(5), json!(2))
    );

    // A rebuild swaps in new tables (as the owner); the reader still reads them.
    let out = std::process::Command::new(causeway_tests::causeway_binary())
        .args(["projections", "rebuild", "orders", "--from", "store"])
        .env(
            "CAUSEWAY_DATABASE__DATABASE_NAME",
            &db.settings.database.database_name,
        )
        .env(
            "CAUSEWAY_KAFKA__TOPIC_PREFIX",
            &db.settings.kafka.topic_prefix,
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = client.get(&url).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "confirmed");

    drop(processes);
    for login in logins {
        login.drop_now().await;
    }
}
