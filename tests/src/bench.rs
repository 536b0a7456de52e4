//! What the benchmark binaries (`src/bin/bench-*`) share: their arguments, an HTTP client for
//! a started server, a closed loop of concurrent clients, percentiles and a server's peak RSS.

use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The value after `name` on the command line, if there is one that parses.
pub fn arg<T: FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// An HTTP client (an `admin` bearer token on every request) that keeps up to `clients`
/// connections to `server`, once it listens.
pub async fn client_for(server: &crate::process::RoleProcess, clients: usize) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", crate::tokens::admin().await);
    headers.insert(
        reqwest::header::AUTHORIZATION,
        bearer.parse().expect("a header value"),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(clients)
        .build()
        .expect("an HTTP client");
    server.wait_until_live(&client).await;
    client
}

/// Runs `clients` tasks for `duration`, each calling `call(client, k)` for its k-th request
/// as soon as the previous one is answered. Answers every latency in ms, sorted.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, call: F) -> Vec<f64>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    call(client, latencies.len()).await;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a client task"));
    }
    all.sort_unstable_by(f64::total_cmp);
    all
}

/// The `p` quantile (0 to 1) of ascending `sorted`; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The peak resident set of process `pid` so far (`VmHWM`), in KiB; 0 if unknown.
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}
