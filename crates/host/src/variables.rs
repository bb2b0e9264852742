//! Spin's variables: application variables with defaults or `required`, provided from the
//! environment as `SPIN_VARIABLE_<NAME>` (or `--variable name=value`), and component
//! variables that are templates over them (`"{{ name }}"`).
//!
//! As in Spin, every template is resolved when the application starts, and a required
//! variable without a value stops it from starting.

use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, HashMap};

pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

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

/// The values of the application variables: `overrides` first, then the environment, then defaults.
pub fn resolve_application(
    manifest: &Manifest,
    env: &HashMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (name, decl) in &manifest.variables {
        if !is_valid_name(name) {
            bail!("invalid variable name `{name}`");
        }
        let from_env = env.get(&format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()));
        match overrides.get(name).or(from_env).or(decl.default.as_ref()) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None if decl.required => bail!(
                "variable `{name}` is required but has no value: set {ENV_PREFIX}{}",
                name.to_ascii_uppercase()
            ),
            None => bail!("variable `{name}` needs either a default or `required = true`"),
        }
    }
    Ok(values)
}

/// Expands `{{ name }}` in `template` with application variable values.
pub fn expand(template: &str, values: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unterminated `{{{{` in `{template}`"))?;
        let name = after[..end].trim();
        let value = values
            .get(name)
            .with_context(|| format!("`{template}` refers to unknown variable `{name}`"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The component's variables, fully resolved.
pub fn resolve_component(manifest: &Manifest, app: &BTreeMap<String, String>) -> Result<HashMap<String, String>> {
    manifest
        .component_variables
        .iter()
        .map(|(name, template)| {
            if !is_valid_name(name) {
                bail!("invalid component variable name `{name}`");
            }
            Ok((
                name.clone(),
                expand(template, app).with_context(|| format!("component variable `{name}`"))?,
            ))
        })
        .collect()
}
