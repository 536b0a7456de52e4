//! The Confluent-compatible schema registry: client settings for schema_registry_converter,
//! and the plain HTTP client the health check and the admin calls use, both with the
//! configured basic-auth credentials.

use schema_registry_converter::async_impl::schema_registry::SrSettings;
use secrecy::ExposeSecret;

use crate::InfraError;
use crate::settings::RegistrySettings;

/// schema_registry_converter settings for the configured registry.
pub fn sr_settings(settings: &RegistrySettings) -> Result<SrSettings, InfraError> {
    let mut builder = SrSettings::new_builder(settings.url.clone());
    builder.set_timeout(settings.timeout());
    if let Some(username) = &settings.username {
        let password = settings.password.as_ref().map(|p| p.expose_secret());
        builder.set_basic_authorization(username, password);
    }
    builder
        .build()
        .map_err(|e| InfraError::Registry(e.to_string()))
}

/// An HTTP client of the registry: `timeout` per request, and the configured basic-auth
/// credentials on every request (the header marked sensitive, so it never prints).
pub fn http_client(
    settings: &RegistrySettings,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(mut value) = basic_authorization(settings) {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
}

/// `Basic base64(username:password)` (RFC 7617) when a username is configured.
fn basic_authorization(settings: &RegistrySettings) -> Option<reqwest::header::HeaderValue> {
    use base64::Engine as _;
    let username = settings.username.as_ref()?;
    let password = settings.password.as_ref().map_or("", |p| p.expose_secret());
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_is_rfc_7617_and_only_with_a_username() {
        let mut settings = RegistrySettings {
            url: "http://registry".to_owned(),
            username: None,
            password: Some("secret".to_owned().into()),
            timeout_ms: 10,
        };
        assert!(basic_authorization(&settings).is_none());
        settings.username = Some("key".to_owned());
        // base64("key:secret")
        assert_eq!(
            basic_authorization(&settings).unwrap(),
            "Basic a2V5OnNlY3JldA=="
        );
    }
}
