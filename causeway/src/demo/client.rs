//! The demo's HTTP calls: commands to the command API, pages of orders from the read API.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;

use super::Demo;

/// The command API refused the command for now (503: admission control); the error a
/// [`Demo::post`] answers then.
#[derive(Debug, thiserror::Error)]
#[error("POST {path} answered 503: {answer}")]
pub(super) struct Refused {
    path: String,
    answer: Value,
}

impl Demo {
    /// `POST`s `body` to the command API; the answer's JSON, or an error naming the status
    /// ([`Refused`] for a 503).
    pub(super) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(self.bearer.get())
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let path = path.to_owned();
            return Err(Refused { path, answer }.into());
        }
        if !status.is_success() {
            bail!("POST {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// Waits until `GET path` answers 200 from the read API (a read model that has caught up
    /// with the command whose consistency token `path` carries), for at most `within`.
    pub(super) async fn wait_visible(&self, path: &str, within: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + within;
        loop {
            let status = self
                .client
                .get(format!("{}{path}", self.read_url))
                .bearer_auth(self.bearer.get())
                .send()
                .await
                .map(|r| r.status());
            match status {
                Ok(StatusCode::OK) => return Ok(()),
                _ if Instant::now() >= until => bail!("GET {path}: not visible after {within:?}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// One page of the newest orders (`GET /api/orders`), and the cursor of the next.
    pub(super) async fn orders_page(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Option<(Vec<Value>, Option<String>)> {
        let mut url = reqwest::Url::parse(&format!("{}/api/orders", self.read_url)).ok()?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let response = self
            .client
            .get(url)
            .bearer_auth(self.bearer.get())
            .send()
            .await
            .ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let mut page = response.json::<Value>().await.ok()?;
        let items = match page["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let next = page["next_cursor"].as_str().map(str::to_owned);
        Some((items, next))
    }
}
