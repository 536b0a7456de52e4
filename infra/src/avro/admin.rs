//! [`RegistryAdmin`]: the Confluent-API calls the codec does not make — per-subject
//! compatibility, registration with its version, the versions a subject holds. Checked
//! against Apicurio Registry 3's ccompat API and the Confluent Schema Registry's documented
//! API (ADR 0004).

use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;

use super::CodecError;
use crate::settings::RegistrySettings;

/// The compatibility level of every event subject: events are replayed forever, so every
/// version must read, and be read by, every other (docs/architecture.md §1.4).
pub const COMPATIBILITY_LEVEL: &str = "FULL_TRANSITIVE";

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Tries per call; the pause before retry n is n × [`RETRY_PAUSE`].
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// A schema as registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredVersion {
    /// The subject, e.g. `orders.events-causeway.order.OrderPlaced`.
    pub subject: String,
    /// The schema id written into every message.
    pub id: u32,
    /// The subject's version holding this schema.
    pub version: u32,
}

/// Administrative calls to the Confluent-compatible registry.
#[derive(Debug, Clone)]
pub struct RegistryAdmin {
    client: Client,
    base: Url,
}

#[derive(Deserialize)]
struct IdAnswer {
    id: u32,
}

#[derive(Deserialize)]
struct LookupAnswer {
    id: u32,
    version: u32,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigAnswer {
    compatibility_level: Option<String>,
    compatibility: Option<String>,
}

impl RegistryAdmin {
    /// A client of the configured registry.
    pub fn new(settings: &RegistrySettings) -> Result<Self, CodecError> {
        let failed = |message: String| CodecError::Registry {
            action: "configuring the registry client".to_owned(),
            status: None,
            message,
        };
        let base =
            Url::parse(&settings.url).map_err(|e| failed(format!("{}: {e}", settings.url)))?;
        let client = crate::registry::http_client(settings, settings.timeout())
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self { client, base })
    }

    /// Whether the registry answers at all (`GET /subjects`).
    pub async fn ping(&self) -> Result<(), CodecError> {
        let action = "listing subjects".to_owned();
        let response = self.send(self.client.get(self.url(&["subjects"]))).await;
        ok(response, &action).await.map(drop)
    }

    /// Sets `subject`'s compatibility level, e.g. [`COMPATIBILITY_LEVEL`]. Works before the
    /// subject has a version, so its first version is already checked against the rule.
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Result<(), CodecError> {
        let action = format!("setting {subject} to {level}");
        let request = self
            .client
            .put(self.url(&["config", subject]))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(json!({ "compatibility": level }).to_string());
        let response = self.send(request).await;
        ok(response, &action).await.map(drop)
    }

    /// `subject`'s own compatibility level; `None` when it has none (the global one applies).
    pub async fn compatibility(&self, subject: &str) -> Result<Option<String>, CodecError> {
        let action = format!("reading the compatibility of {subject}");
        let response = self
            .send(self.client.get(self.url(&["config", subject])))
            .await;
        let Some(response) = ok_or_not_found(response, &action).await? else {
            return Ok(None);
        };
        let answer: ConfigAnswer = parse(response, &action).await?;
        Ok(answer.compatibility_level.or(answer.compatibility))
    }

    /// Registers `schema_json` under `subject` (a no-op when it is already registered there)
    /// and answers its id and version. A schema the subject's rule refuses fails with
    /// status 409.
    pub async fn register(
        &self,
        subject: &str,
        schema_json: &str,
    ) -> Result<RegisteredVersion, CodecError> {
        let action = format!("registering a schema under {subject}");
        let body = json!({ "schema": schema_json, "schemaType": "AVRO" }).to_string();
        let response = self
            .post(&["subjects", subject, "versions"], body.clone())
            .await;
        let registered: IdAnswer = parse(ok(response, &action).await?, &action).await?;
        // POST /subjects/{s}/versions answers the id only; the lookup answers the version.
        let action = format!(
            "looking up the version of schema id {} under {subject}",
            registered.id
        );
        let response = self.post(&["subjects", subject], body).await;
        let found: LookupAnswer = parse(ok(response, &action).await?, &action).await?;
        Ok(RegisteredVersion {
            subject: subject.to_owned(),
            id: found.id,
            version: found.version,
        })
    }

    /// The versions registered under `subject`, oldest first; none when it does not exist.
    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>, CodecError> {
        let action = format!("listing the versions of {subject}");
        let response = self
            .send(
                self.client
                    .get(self.url(&["subjects", subject, "versions"])),
            )
            .await;
        match ok_or_not_found(response, &action).await? {
            Some(response) => parse(response, &action).await,
            None => Ok(Vec::new()),
        }
    }

    /// The schema text of `subject`'s `version`.
    pub async fn schema(&self, subject: &str, version: u32) -> Result<String, CodecError> {
        let action = format!("reading version {version} of {subject}");
        let url = self.url(&["subjects", subject, "versions", &version.to_string()]);
        let response = self.send(self.client.get(url)).await;
        let answer: SchemaAnswer = parse(ok(response, &action).await?, &action).await?;
        Ok(answer.schema)
    }

    async fn post(&self, segments: &[&str], body: String) -> reqwest::Result<Response> {
        let request = self
            .client
            .post(self.url(segments))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body);
        self.send(request).await
    }

    /// Sends `request`, retrying a timeout, a refused connection or a 5xx answer with a
    /// growing pause: every call here is idempotent, and a busy registry answers late.
    async fn send(&self, request: RequestBuilder) -> reqwest::Result<Response> {
        for attempt in 1..ATTEMPTS {
            let Some(this_try) = request.try_clone() else {
                break;
            };
            match this_try.send().await {
                Ok(response) if !response.status().is_server_error() => return Ok(response),
                Err(error) if !(error.is_timeout() || error.is_connect()) => return Err(error),
                _ => tokio::time::sleep(RETRY_PAUSE * attempt).await,
            }
        }
        request.send().await
    }

    /// The base URL with `segments` appended, each percent-encoded (subjects may hold any
    /// character a topic prefix does).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

async fn ok(response: reqwest::Result<Response>, action: &str) -> Result<Response, CodecError> {
    let response = response.map_err(|e| CodecError::Registry {
        action: action.to_owned(),
        status: None,
        message: crate::error::error_chain(&e),
    })?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|body| body["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(CodecError::Registry {
        action: action.to_owned(),
        status: Some(status),
        message,
    })
}

async fn ok_or_not_found(
    response: reqwest::Result<Response>,
    action: &str,
) -> Result<Option<Response>, CodecError> {
    match response {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => Ok(None),
        other => ok(other, action).await.map(Some),
    }
}

async fn parse<T: serde::de::DeserializeOwned>(
    response: Response,
    action: &str,
) -> Result<T, CodecError> {
    response.json().await.map_err(|e| CodecError::Registry {
        action: action.to_owned(),
        status: None,
        message: format!("unexpected answer: {e}"),
    })
}
