//! The Confluent-compatible schema registry: client settings for schema_registry_converter.

use schema_registry_converter::async_impl::schema_registry::SrSettings;

use crate::InfraError;
use crate::settings::RegistrySettings;

/// schema_registry_converter settings for the configured registry.
pub fn sr_settings(settings: &RegistrySettings) -> Result<SrSettings, InfraError> {
    SrSettings::new_builder(settings.url.clone())
        .set_timeout(settings.timeout())
        .build()
        .map_err(|e| InfraError::Registry(e.to_string()))
}
