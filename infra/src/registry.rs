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
        let password = settings
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned());
        builder.set_basic_authorization(username, password.as_deref());
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
    if let Some(username) = &settings.username {
        let password = settings.password.as_ref().map(|p| p.expose_secret());
        // reqwest's own encoding of `Authorization: Basic`, taken from a throwaway request.
        let request = reqwest::Client::new()
            .get("http://registry.invalid/")
            .basic_auth(username, password)
            .build()?;
        if let Some(value) = request.headers().get(reqwest::header::AUTHORIZATION) {
            let mut value = value.clone();
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
}
