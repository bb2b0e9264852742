//! Origin-driven session hooks: response headers the origin sets to start, end, update,
//! rotate or revoke sessions. The gateway acts on them and strips them, and strips client
//! copies on the way in, so only the origin can trigger them.

use http::{HeaderMap, HeaderName};
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

/// The hook header names: `prefix` + `login`, `logout`, `update`, `rotate`, `revoke-user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookHeaders {
    pub prefix: String,
    pub login: HeaderName,
    pub logout: HeaderName,
    pub update: HeaderName,
    pub rotate: HeaderName,
    pub revoke_user: HeaderName,
}

impl HookHeaders {
    /// `prefix` must be lowercase header-name characters ending in `-`.
    pub fn new(prefix: &str) -> Option<Self> {
        let name = |suffix: &str| HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes()).ok();
        let valid = prefix.ends_with('-')
            && prefix.len() > 1
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return None;
        }
        Some(Self {
            prefix: prefix.to_owned(),
            login: name("login")?,
            logout: name("logout")?,
            update: name("update")?,
            rotate: name("rotate")?,
            revoke_user: name("revoke-user")?,
        })
    }

    /// Whether `name` is a hook header (anything under the prefix), `_` taken for `-` as
    /// many origin servers do (see `forwarding::folded`).
    pub fn owns(&self, name: &HeaderName) -> bool {
        self.owns_folded(&crate::forwarding::folded(name.as_str()))
    }

    pub(crate) fn owns_folded(&self, folded: &str) -> bool {
        folded.starts_with(&self.prefix)
    }

    pub fn strip(&self, headers: &mut HeaderMap) {
        let owned: Vec<HeaderName> = headers.keys().filter(|n| self.owns(n)).cloned().collect();
        for name in owned {
            headers.remove(name);
        }
    }
}

/// The update hook's value: top-level keys to set in the session's data (`null` removes).
pub type DataUpdate = Map<String, Value>;

/// What the origin asked for in one response, in the order the gateway carries it out:
/// revoke first (a password change revokes everything, then logs in afresh), then login
/// or logout, then update and rotate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub revoke_user: Option<String>,
    pub login: Option<Login>,
    pub logout: bool,
    pub update: Option<DataUpdate>,
    pub rotate: bool,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The login hook's value: `{"user_id": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Login {
    pub user_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("hook header `{header}`: {problem}")]
pub struct HookError {
    pub header: HeaderName,
    pub problem: String,
}

pub fn parse(headers: &HeaderMap, names: &HookHeaders) -> Result<Hooks, HookError> {
    let one = |name: &HeaderName| -> Result<Option<String>, HookError> {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { return Ok(None) };
        let err = |problem: &str| HookError {
            header: name.clone(),
            problem: problem.to_owned(),
        };
        if values.next().is_some() {
            return Err(err("appears more than once"));
        }
        first
            .to_str()
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|_| err("is not visible ASCII"))
    };
    let json_err = |name: &HeaderName, e: serde_json::Error| HookError {
        header: name.clone(),
        problem: format!("invalid JSON: {e}"),
    };
    let login = match one(&names.login)? {
        Some(v) => Some(serde_json::from_str::<Login>(&v).map_err(|e| json_err(&names.login, e))?),
        None => None,
    };
    let update = match one(&names.update)? {
        Some(v) => Some(serde_json::from_str::<Map<String, Value>>(&v).map_err(|e| json_err(&names.update, e))?),
        None => None,
    };
    let revoke_user = one(&names.revoke_user)?.filter(|u| !u.is_empty());
    let hooks = Hooks {
        revoke_user,
        login,
        logout: one(&names.logout)?.is_some(),
        update,
        rotate: one(&names.rotate)?.is_some(),
    };
    if hooks.login.is_some() && hooks.logout {
        return Err(HookError {
            header: names.logout.clone(),
            problem: format!("cannot be combined with `{}`", names.login),
        });
    }
    Ok(hooks)
}

/// Merges `update` into `data`: top-level keys replace, `null` removes a key.
pub fn merge(data: &mut Map<String, Value>, update: Map<String, Value>) {
    for (key, value) in update {
        if value.is_null() {
            data.remove(&key);
        } else {
            data.insert(key, value);
        }
    }
}
