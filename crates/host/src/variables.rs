//! Spin's variables: application variables with defaults or `required`, component variables
//! that are templates over them (`"{{ name }}"`), and the providers that supply values.
//!
//! As in Spin (crates/expressions/src/lib.rs, `ProviderResolver`), a component variable is
//! resolved when the component asks for it, on every request: each `{{ name }}` goes through
//! the providers in order (`--variable` values, then the runtime config's providers, then the
//! environment), and falls back to the default only when none has it. Spin's environment
//! provider wraps each lookup in `tokio::task::block_in_place` (crates/variables-env), which
//! is what makes `SPIN_VARIABLE_*` and defaults slow under load; this host does the same, so
//! that the benchmark shows what a user of real Spin sees.

use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const ENV_PREFIX: &str = "SPIN_VARIABLE";

/// Spin's rule for variable names: lowercase ASCII letters, digits and single underscores,
/// starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// Where variable values come from.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `--variable name=value`, or a runtime config's `type = "static"` provider.
    Static(HashMap<String, String>),
    /// `<PREFIX>_<NAME>` environment variables, read at each lookup.
    Env {
        prefix: String,
        env: Arc<HashMap<String, String>>,
    },
}

impl Provider {
    fn get_sync(&self, name: &str) -> Option<String> {
        match self {
            Self::Static(values) => values.get(name).cloned(),
            Self::Env { prefix, env } => env.get(&format!("{prefix}_{}", name.to_ascii_uppercase())).cloned(),
        }
    }

    fn is_env(&self) -> bool {
        matches!(self, Self::Env { .. })
    }
}

/// A runtime config file's variables providers (`spin up --runtime-config-file`), as Spin
/// reads them (crates/runtime-config/src/variables.rs): `[[variables_provider]]` (or the older
/// `[[config_provider]]`) of `type = "static"` with a `values` table, or `type = "env"` with
/// an optional `prefix`. Vault and Azure Key Vault are not supported here.
pub fn runtime_config_providers(text: &str, env: &Arc<HashMap<String, String>>) -> Result<Vec<Provider>> {
    #[derive(Deserialize)]
    struct File {
        variables_provider: Option<Vec<Entry>>,
        config_provider: Option<Vec<Entry>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case", tag = "type")]
    enum Entry {
        Static { values: HashMap<String, String> },
        Env { prefix: Option<String> },
    }
    let file: File = toml::from_str(text).context("parsing the runtime config")?;
    Ok(file
        .variables_provider
        .or(file.config_provider)
        .unwrap_or_default()
        .into_iter()
        .map(|entry| match entry {
            Entry::Static { values } => Provider::Static(values),
            Entry::Env { prefix } => Provider::Env {
                prefix: prefix.unwrap_or_else(|| ENV_PREFIX.to_owned()),
                env: env.clone(),
            },
        })
        .collect())
}

/// Spin's provider order (crates/runtime-factors/src/build.rs and runtime-config): the
/// `--variable` values first, then the runtime config's providers, then the environment
/// provider, which is always there.
pub fn providers(
    cli: &BTreeMap<String, String>,
    runtime_config: Vec<Provider>,
    env: Arc<HashMap<String, String>>,
) -> Vec<Provider> {
    let mut all = vec![Provider::Static(cli.clone().into_iter().collect())];
    all.extend(runtime_config);
    all.push(Provider::Env {
        prefix: ENV_PREFIX.to_owned(),
        env,
    });
    all
}

/// How many variable lookups components made: every `{{ name }}` resolved, and those that
/// reached an environment provider (each one a `block_in_place` in Spin and here).
#[derive(Debug, Default)]
pub struct VariableStats {
    pub lookups: AtomicU64,
    pub env_lookups: AtomicU64,
}

impl VariableStats {
    /// (lookups, environment lookups) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.lookups.load(Ordering::Relaxed),
            self.env_lookups.load(Ordering::Relaxed),
        )
    }
}

/// An application's variables and the component's templates over them.
#[derive(Debug)]
pub struct Variables {
    defaults: BTreeMap<String, Option<String>>,
    templates: HashMap<String, String>,
    providers: Vec<Provider>,
    pub stats: VariableStats,
}

impl Variables {
    /// Checks names, templates and required variables as `spin up` does at start.
    pub fn new(manifest: &Manifest, providers: Vec<Provider>) -> Result<Self> {
        let mut defaults = BTreeMap::new();
        for (name, decl) in &manifest.variables {
            if !is_valid_name(name) {
                bail!("invalid variable name `{name}`");
            }
            if decl.default.is_none() && !decl.required {
                bail!("variable `{name}` needs either a default or `required = true`");
            }
            let resolvable = decl.default.is_some() || providers.iter().any(|p| p.get_sync(name).is_some());
            if decl.required && !resolvable {
                bail!(
                    "variable `{name}` is required but has no value: set {ENV_PREFIX}_{}",
                    name.to_ascii_uppercase()
                );
            }
            defaults.insert(name.clone(), decl.default.clone());
        }
        let variables = Self {
            defaults,
            templates: HashMap::new(),
            providers,
            stats: VariableStats::default(),
        };
        let mut templates = HashMap::new();
        for (name, template) in &manifest.component_variables {
            if !is_valid_name(name) {
                bail!("invalid component variable name `{name}`");
            }
            for part in parts(template)? {
                if let Part::Var(var) = part
                    && !variables.defaults.contains_key(var)
                {
                    bail!("component variable `{name}`: `{template}` refers to unknown variable `{var}`");
                }
            }
            templates.insert(name.clone(), template.clone());
        }
        Ok(Self { templates, ..variables })
    }

    /// Expands `{{ name }}` in `template` now (for `allowed_outbound_hosts`, which Spin
    /// resolves once, at start).
    pub fn expand_now(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for part in parts(template)? {
            match part {
                Part::Lit(text) => out.push_str(text),
                Part::Var(name) => out.push_str(&self.resolve_now(name)?),
            }
        }
        Ok(out)
    }

    fn resolve_now(&self, name: &str) -> Result<String> {
        self.providers
            .iter()
            .find_map(|p| p.get_sync(name))
            .or_else(|| self.defaults.get(name).cloned().flatten())
            .with_context(|| format!("no value for variable `{name}`"))
    }

    /// A component variable, resolved as the component asks for it. `Ok(None)`: the
    /// component has no variable of that name.
    pub async fn get(&self, component_variable: &str) -> Result<Option<String>> {
        let Some(template) = self.templates.get(component_variable) else {
            return Ok(None);
        };
        let mut out = String::new();
        for part in parts(template)? {
            match part {
                Part::Lit(text) => out.push_str(text),
                Part::Var(name) => out.push_str(&self.resolve(name).await?),
            }
        }
        Ok(Some(out))
    }

    async fn resolve(&self, name: &str) -> Result<String> {
        self.stats.lookups.fetch_add(1, Ordering::Relaxed);
        for provider in &self.providers {
            let value = if provider.is_env() {
                self.stats.env_lookups.fetch_add(1, Ordering::Relaxed);
                blocking(|| provider.get_sync(name))
            } else {
                provider.get_sync(name)
            };
            if value.is_some() {
                return Ok(value.unwrap_or_default());
            }
        }
        self.defaults
            .get(name)
            .cloned()
            .flatten()
            .with_context(|| format!("no provider resolved variable `{name}`"))
    }
}

/// `tokio::task::block_in_place`, as Spin's environment provider does; run inline where
/// the runtime cannot block in place (a current-thread runtime).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

enum Part<'a> {
    Lit(&'a str),
    Var(&'a str),
}

fn parts(template: &str) -> Result<Vec<Part<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Part::Lit(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unterminated `{{{{` in `{template}`"))?;
        out.push(Part::Var(after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Part::Lit(rest));
    }
    Ok(out)
}

/// Reads a runtime config file's variables providers.
pub fn load_runtime_config(path: &Path, env: &Arc<HashMap<String, String>>) -> Result<Vec<Provider>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    runtime_config_providers(&text, env).with_context(|| format!("in {}", path.display()))
}
