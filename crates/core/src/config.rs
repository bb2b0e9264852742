//! The gateway's configuration, parsed from Spin variables into a [`Config`] that only
//! exists when every value is valid. Each error names the variable at fault.

use crate::cookie_codec::SignedCookieV1;
use crate::forwarding::{IdentityHeaders, is_hop_by_hop};
use crate::keys::KeyRing;
use crate::policy::{LoginRedirect, PublicPaths};
use http::HeaderName;
use http::uri::{Authority, Scheme, Uri};
use thiserror::Error;

pub const ORIGIN_URL: &str = "origin_url";
pub const REDIS_ADDRESS: &str = "redis_address";
pub const SESSION_KEYS: &str = "session_keys";
pub const COOKIE_NAME: &str = "cookie_name";
pub const KEY_PREFIX: &str = "key_prefix";
pub const PUBLIC_PATHS: &str = "public_paths";
pub const LOGIN_URL: &str = "login_url";
pub const LOGIN_NEXT_PARAM: &str = "login_next_param";
pub const USER_HEADER: &str = "user_header";
pub const DATA_HEADER: &str = "data_header";

/// Every variable the gateway reads, so an adapter can fetch them all up front.
pub const VARIABLES: &[&str] = &[
    ORIGIN_URL,
    REDIS_ADDRESS,
    SESSION_KEYS,
    COOKIE_NAME,
    KEY_PREFIX,
    PUBLIC_PATHS,
    LOGIN_URL,
    LOGIN_NEXT_PARAM,
    USER_HEADER,
    DATA_HEADER,
];

/// Defaults for the optional variables; spin.toml declares the same ones.
pub mod defaults {
    pub const COOKIE_NAME: &str = "sgw_session";
    pub const KEY_PREFIX: &str = "sgw:session:";
    pub const LOGIN_NEXT_PARAM: &str = "next";
    pub const USER_HEADER: &str = "x-session-user";
    pub const DATA_HEADER: &str = "x-session-data";
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("variable `{variable}`: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Where requests are forwarded: scheme and authority only (Spin's allowed hosts take no path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub origin: Origin,
    pub redis_address: String,
    pub codec: SignedCookieV1,
    pub cookie_name: String,
    pub key_prefix: String,
    pub public_paths: PublicPaths,
    pub login: Option<LoginRedirect>,
    pub identity_headers: IdentityHeaders,
}

impl Config {
    /// Builds the configuration from a variable lookup (`None` or empty: not set).
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or_else(|| ConfigError::new(name, "is not set"));
        let or_default = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());

        let origin = parse_origin(&required(ORIGIN_URL)?)?;
        let redis_address = parse_redis_address(&required(REDIS_ADDRESS)?)?;
        let keys =
            KeyRing::parse(&required(SESSION_KEYS)?).map_err(|e| ConfigError::new(SESSION_KEYS, e.to_string()))?;
        let cookie_name = or_default(COOKIE_NAME, defaults::COOKIE_NAME);
        if !is_cookie_name(&cookie_name) {
            return Err(ConfigError::new(
                COOKIE_NAME,
                "is not a valid cookie name (RFC 6265 token)",
            ));
        }
        let key_prefix = or_default(KEY_PREFIX, defaults::KEY_PREFIX);
        let public_paths = PublicPaths::parse(&get(PUBLIC_PATHS).unwrap_or_default())
            .map_err(|p| ConfigError::new(PUBLIC_PATHS, p))?;
        let login = match get(LOGIN_URL) {
            None => None,
            Some(url) => {
                let param = or_default(LOGIN_NEXT_PARAM, defaults::LOGIN_NEXT_PARAM);
                if !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(ConfigError::new(
                        LOGIN_NEXT_PARAM,
                        "may hold only letters, digits, '_' and '-'",
                    ));
                }
                Some(LoginRedirect::new(&url, param).map_err(|p| ConfigError::new(LOGIN_URL, p))?)
            }
        };
        let user_header = parse_identity_header(USER_HEADER, &or_default(USER_HEADER, defaults::USER_HEADER))?;
        let data_header = parse_identity_header(DATA_HEADER, &or_default(DATA_HEADER, defaults::DATA_HEADER))?;
        if user_header == data_header {
            return Err(ConfigError::new(
                DATA_HEADER,
                format!("is the same header as `{USER_HEADER}`"),
            ));
        }
        Ok(Self {
            origin,
            redis_address,
            codec: SignedCookieV1::new(keys),
            cookie_name,
            key_prefix,
            public_paths,
            login,
            identity_headers: IdentityHeaders {
                user: user_header,
                data: data_header,
            },
        })
    }

    /// The Redis key of a session.
    pub fn session_key(&self, id: &crate::SessionId) -> String {
        format!("{}{}", self.key_prefix, id.as_str())
    }
}

fn parse_origin(value: &str) -> Result<Origin, ConfigError> {
    let err = |p: &str| {
        ConfigError::new(
            ORIGIN_URL,
            format!("{p} (expected http://host[:port] or https://host[:port])"),
        )
    };
    let uri: Uri = value.parse().map_err(|_| err("is not a URL"))?;
    let scheme = uri.scheme().cloned().ok_or_else(|| err("has no scheme"))?;
    if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
        return Err(err("has a scheme other than http or https"));
    }
    let authority = uri.authority().cloned().ok_or_else(|| err("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(err("must not carry credentials"));
    }
    if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        return Err(err("must not have a path or query"));
    }
    Ok(Origin { scheme, authority })
}

fn parse_redis_address(value: &str) -> Result<String, ConfigError> {
    let err = |p: &str| {
        ConfigError::new(
            REDIS_ADDRESS,
            format!("{p} (expected redis://host[:port] or rediss://...)"),
        )
    };
    let uri: Uri = value.parse().map_err(|_| err("is not a URL"))?;
    match uri.scheme_str() {
        Some("redis" | "rediss") => {}
        _ => return Err(err("has a scheme other than redis or rediss")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(err("has no host"));
    }
    Ok(value.to_owned())
}

fn parse_identity_header(variable: &'static str, value: &str) -> Result<HeaderName, ConfigError> {
    let name = HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigError::new(variable, "is not a valid header name"))?;
    let reserved = is_hop_by_hop(&name)
        || [
            http::header::HOST,
            http::header::COOKIE,
            http::header::CONTENT_LENGTH,
            http::header::CONTENT_TYPE,
        ]
        .contains(&name)
        || name.as_str().starts_with("x-forwarded-")
        || name.as_str().starts_with("spin-");
    if reserved {
        return Err(ConfigError::new(
            variable,
            "names a header the gateway or HTTP itself manages",
        ));
    }
    Ok(name)
}

/// RFC 6265 cookie-name: an RFC 2616 token.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}
