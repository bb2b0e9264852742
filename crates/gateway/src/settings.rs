//! Reads the gateway's Spin variables (all at once, concurrently) into a core `Config`.

use session_gateway_core::Config;
use session_gateway_core::config::{ConfigError, VARIABLES};
use spin_sdk::variables;
use std::collections::HashMap;

pub async fn load() -> Result<Config, ConfigError> {
    let values = futures::future::join_all(
        VARIABLES
            .iter()
            .map(|name| async move { (*name, variables::get(name).await) }),
    )
    .await;
    let mut found = HashMap::with_capacity(values.len());
    for (name, value) in values {
        match value {
            Ok(value) => {
                found.insert(name, value);
            }
            // Not declared for the component: the same as not set.
            Err(variables::Error::Undefined(_)) => {}
            Err(error) => {
                return Err(ConfigError {
                    variable: name,
                    problem: format!("could not be read: {error}"),
                });
            }
        }
    }
    Config::parse(|name| found.get(name).cloned())
}
