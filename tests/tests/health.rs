//! `/health/ready`: each role's own account of itself, and a dependency that goes away and
//! comes back (Postgres behind a TCP proxy this test stops and restarts).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_tests::process::RoleProcess;
use causeway_tests::shop::Shop;
use causeway_tests::{TestApp, eventually, free_port, settings};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A TCP proxy on 127.0.0.1 to `target`; stopping it closes every connection it carries.
struct Proxy {
    port: u16,
    target: String,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16, target: String) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let to = target.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task when it is aborted: every connection closes with it.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = to.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, target, task }
    }

    async fn stop(self) -> (u16, String) {
        self.task.abort();
        let _ = self.task.await;
        (self.port, self.target)
    }
}

async fn ready(app_address: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{app_address}/health/ready"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn ready_turns_503_naming_postgres_within_seconds_when_it_stops_and_200_when_it_returns() {
    let mut settings = settings();
    let target = format!("{}:{}", settings.database.host, settings.database.port);
    let proxy = Proxy::start(0, target).await;
    settings.database.host = "127.0.0.1".into();
    settings.database.port = proxy.port;
    let app = TestApp::spawn(settings).await;
    eventually(
        Duration::from_secs(10),
        "ready through the proxy",
        || async { (ready(&app.management).await.0 == 200).then_some(()) },
    )
    .await;

    let (port, target) = proxy.stop().await;
    let stopped = tokio::time::Instant::now();
    let body = eventually(Duration::from_secs(5), "503 naming postgres", || async {
        let (status, body) = ready(&app.management).await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert_eq!(body["down"], serde_json::json!(["postgres"]), "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("postgres"),
        "{body}"
    );

    let proxy = Proxy::start(port, target).await;
    eventually(Duration::from_secs(15), "ready again", || async {
        (ready(&app.management).await.0 == 200).then_some(())
    })
    .await;
    app.stop().await;
    proxy.stop().await;
}

/// The relay's `(role, state, ready)` in a readiness body.
fn relay_role(body: &Value) -> Option<(String, String, bool)> {
    roles(body).into_iter().find(|(role, _, _)| role == "relay")
}

/// `(role, state, ready)` of every role in a readiness body.
fn roles(body: &Value) -> Vec<(String, String, bool)> {
    body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
                r["ready"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn ready_reports_each_role_and_a_standby_relay_is_still_ready() {
    let shop = Shop::start().await;
    let body = eventually(
        Duration::from_secs(30),
        "every role of the shop reported",
        || async {
            let (status, body) = ready(&shop.app.management).await;
            // The relay reports standby until its first try for the lock has answered.
            let leads = roles(&body).contains(&("relay".into(), "leader".into(), true));
            (status == 200 && roles(&body).len() == 1 + 6 + 3 && leads).then_some(body)
        },
    )
    .await;
    let reported = roles(&body);
    assert!(
        reported.contains(&("relay".into(), "leader".into(), true)),
        "{body}"
    );
    for role in [
        "projection.inventory",
        "projection.orders",
        "saga.inventory",
        "saga.payment",
        "saga.order",
    ] {
        assert!(
            reported.contains(&(role.into(), "running".into(), true)),
            "{role}: {body}"
        );
    }

    // A second relay process on the same database and lock: it stands by, and is ready. The
    // shop's relay may step down meanwhile (a Kafka error under load) and the second one take
    // over: either way both are ready and exactly one of them leads.
    let port = free_port();
    let _standby = RoleProcess::command("relay", &shop.settings)
        .management_port(port)
        .start();
    let address = format!("http://127.0.0.1:{port}");
    let (first, second) = eventually(
        Duration::from_secs(30),
        "one relay leads, one stands by",
        || {
            let address = address.clone();
            let shop = &shop;
            async move {
                let response = reqwest::get(format!("{address}/health/ready")).await.ok()?;
                let status = response.status().as_u16();
                let body: Value = response.json().await.ok()?;
                let second = roles(&body);
                let (_, first) = ready(&shop.app.management).await;
                let first = relay_role(&first)?;
                let [ref relay] = second[..] else { return None };
                let states = [first.1.as_str(), relay.1.as_str()];
                (status == 200 && states.contains(&"leader") && states.contains(&"standby"))
                    .then_some((first, relay.clone()))
            }
        },
    )
    .await;
    assert!(
        first.2 && second.2,
        "both relays are ready: {first:?} {second:?}"
    );
    assert_eq!(second.0, "relay");
    shop.stop().await;
}
