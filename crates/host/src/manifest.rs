//! The parts of a Spin manifest (version 2) this host understands: application variables,
//! one HTTP trigger, and its component's source, variables, allowed outbound hosts and
//! key-value stores.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    trigger: Triggers,
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
struct Triggers {
    http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
struct HttpTrigger {
    route: String,
    component: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VariableDecl {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
struct ComponentDecl {
    source: String,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
}

/// The one HTTP component of an application, as the host will run it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub variables: BTreeMap<String, VariableDecl>,
    pub route: String,
    pub component_id: String,
    /// Resolved against the manifest's directory.
    pub source: PathBuf,
    pub allowed_outbound_hosts: Vec<String>,
    pub component_variables: BTreeMap<String, String>,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        let [trigger] = raw.trigger.http.as_slice() else {
            bail!("this host runs exactly one [[trigger.http]]");
        };
        let component = raw
            .component
            .get(&trigger.component)
            .with_context(|| format!("trigger names component `{}`, which is not defined", trigger.component))?;
        Ok(Self {
            variables: raw.variables,
            route: trigger.route.clone(),
            component_id: trigger.component.clone(),
            source: dir.join(&component.source),
            allowed_outbound_hosts: component.allowed_outbound_hosts.clone(),
            component_variables: component.variables.clone(),
            key_value_stores: component.key_value_stores.clone(),
        })
    }
}
