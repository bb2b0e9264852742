//! The gateway's configuration, parsed from Spin variables into a [`Config`] that only
//! exists when every value is valid. Each error names the variable at fault.

use crate::cookie_codec::{CookieCodec, Pick, SignedCookieV1};
use crate::django::{self, DjangoCookie};
use crate::expiry::{Expiry, Touch};
use crate::express::{self, ExpressCookie};
use crate::flask::{self, FlaskCookie};
use crate::forwarding::{IdentityHeaders, folded, is_hop_by_hop};
use crate::hooks::HookHeaders;
use crate::keys::KeyRing;
use crate::laravel::{self, LaravelCookie};
use crate::php::{self, PhpCookie};
use crate::php_serialize::SerializeHandler;
use crate::policy::{LoginRedirect, PublicPaths};
use crate::session::ForeignRecord;
use crate::set_cookie::{CookieSettings, CookieSettingsError};
use crate::spring::{self, SpringCookie, SpringSerializer};
use cookie::SameSite;
use http::HeaderName;
use http::uri::{Authority, Scheme, Uri};
use std::time::Duration;
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
pub const IDLE_TIMEOUT: &str = "idle_timeout";
pub const ABSOLUTE_TIMEOUT: &str = "absolute_timeout";
pub const REFRESH_FRACTION: &str = "refresh_fraction";
pub const COOKIE_SECURE: &str = "cookie_secure";
pub const COOKIE_SAME_SITE: &str = "cookie_same_site";
pub const COOKIE_DOMAIN: &str = "cookie_domain";
pub const COOKIE_PERSISTENT: &str = "cookie_persistent";
pub const HOOK_HEADER_PREFIX: &str = "hook_header_prefix";
pub const REDIS_TIMEOUT_MS: &str = "redis_timeout_ms";
pub const REDIS_REPLICAS: &str = "redis_replicas";
pub const REDIS_SENTINELS: &str = "redis_sentinels";
pub const REDIS_MASTER_NAME: &str = "redis_master_name";
pub const REDIS_CLUSTER_NODES: &str = "redis_cluster_nodes";
pub const ORIGIN_TIMEOUT_MS: &str = "origin_timeout_ms";
pub const SESSION_READS: &str = "session_reads";
pub const SESSION_FORMAT: &str = "session_format";
pub const SESSION_USER_POINTER: &str = "session_user_pointer";
pub const SESSION_DATA_KEYS: &str = "session_data_keys";
pub const SESSION_COOKIE_SIGNED: &str = "session_cookie_signed";
pub const SESSION_TOUCH_SECS: &str = "session_touch_secs";
pub const SESSION_SERIALIZER: &str = "session_serializer";
pub const SESSION_COOKIE_BASE64: &str = "session_cookie_base64";
pub const SESSION_PHP_SID: &str = "session_php_sid";

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
    IDLE_TIMEOUT,
    ABSOLUTE_TIMEOUT,
    REFRESH_FRACTION,
    COOKIE_SECURE,
    COOKIE_SAME_SITE,
    COOKIE_DOMAIN,
    COOKIE_PERSISTENT,
    HOOK_HEADER_PREFIX,
    REDIS_TIMEOUT_MS,
    ORIGIN_TIMEOUT_MS,
    REDIS_REPLICAS,
    REDIS_SENTINELS,
    REDIS_MASTER_NAME,
    REDIS_CLUSTER_NODES,
    SESSION_READS,
    SESSION_FORMAT,
    SESSION_USER_POINTER,
    SESSION_DATA_KEYS,
    SESSION_COOKIE_SIGNED,
    SESSION_TOUCH_SECS,
    SESSION_SERIALIZER,
    SESSION_COOKIE_BASE64,
    SESSION_PHP_SID,
];

/// Defaults for the optional variables; spin.toml declares the same ones.
pub mod defaults {
    pub const COOKIE_NAME: &str = "sgw_session";
    pub const KEY_PREFIX: &str = "sgw:session:";
    pub const LOGIN_NEXT_PARAM: &str = "next";
    pub const USER_HEADER: &str = "x-session-user";
    pub const DATA_HEADER: &str = "x-session-data";
    pub const IDLE_TIMEOUT_SECS: u64 = 30 * 60;
    pub const ABSOLUTE_TIMEOUT_SECS: u64 = 24 * 60 * 60;
    pub const REFRESH_FRACTION: f64 = 0.5;
    pub const HOOK_HEADER_PREFIX: &str = "x-sgw-";
    pub const REDIS_TIMEOUT_MS: u64 = 1000;
    pub const ORIGIN_TIMEOUT_MS: u64 = 30_000;
    pub const SESSION_READS: &str = "redis";
    pub const SESSION_FORMAT: &str = "native";
}

/// Whose sessions the gateway reads: its own, or those a framework already keeps in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFormat {
    /// The gateway's own cookie and record, with the whole lifecycle (hooks, refresh).
    Native,
    /// express-session with connect-redis: read only; the app owns its sessions.
    Express(ForeignRecord),
    /// Flask-Session's Redis backend: read only.
    Flask(ForeignRecord),
    /// Django's cache-backed sessions on Redis: read only.
    Django(ForeignRecord),
    /// Native PHP sessions with phpredis's save handler: read only.
    Php(ForeignRecord, SerializeHandler),
    /// Laravel's Redis session driver: read only.
    Laravel(ForeignRecord),
    /// Spring Session Data Redis: a hash per session, read only.
    Spring(ForeignRecord, SpringSerializer),
}

impl SessionFormat {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Express(_) => "express",
            Self::Flask(_) => "flask",
            Self::Django(_) => "django",
            Self::Php(..) => "php",
            Self::Laravel(_) => "laravel",
            Self::Spring(..) => "spring",
        }
    }
}

/// The session cookie's codec, as the format says.
#[derive(Debug, Clone)]
pub enum Codec {
    Native(SignedCookieV1),
    Express(ExpressCookie),
    Flask(FlaskCookie),
    Django(DjangoCookie),
    Php(PhpCookie),
    Laravel(LaravelCookie),
    Spring(SpringCookie),
}

impl CookieCodec for Codec {
    fn decode(&self, value: &str) -> Option<crate::VerifiedSessionId> {
        match self {
            Self::Native(codec) => codec.decode(value),
            Self::Express(codec) => codec.decode(value),
            Self::Flask(codec) => codec.decode(value),
            Self::Django(codec) => codec.decode(value),
            Self::Php(codec) => codec.decode(value),
            Self::Laravel(codec) => codec.decode(value),
            Self::Spring(codec) => codec.decode(value),
        }
    }

    fn max_value_bytes(&self) -> usize {
        match self {
            Self::Native(codec) => codec.max_value_bytes(),
            Self::Express(codec) => codec.max_value_bytes(),
            Self::Flask(codec) => codec.max_value_bytes(),
            Self::Django(codec) => codec.max_value_bytes(),
            Self::Php(codec) => codec.max_value_bytes(),
            Self::Laravel(codec) => codec.max_value_bytes(),
            Self::Spring(codec) => codec.max_value_bytes(),
        }
    }

    fn encode(&self, id: &crate::SessionId) -> String {
        match self {
            Self::Native(codec) => codec.encode(id),
            Self::Express(codec) => codec.encode(id),
            Self::Flask(codec) => codec.encode(id),
            Self::Django(codec) => codec.encode(id),
            Self::Php(codec) => codec.encode(id),
            Self::Laravel(codec) => codec.encode(id),
            Self::Spring(codec) => codec.encode(id),
        }
    }
}

/// Where session records are read from. Writes always go to Redis (they need TTLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionReads {
    /// Spin's outbound Redis: a new connection per request, the record and its TTL together.
    Redis,
    /// The component's `default` key-value store, which a runtime config backs with the same
    /// Redis (one pooled connection for all requests). Misses and errors are read again
    /// through outbound Redis, so a store that does not see the sessions costs speed, never
    /// a wrong answer.
    KeyValue,
}

impl SessionReads {
    /// The key-value store label spin.toml grants the component (Spin defines it always).
    pub const KEY_VALUE_LABEL: &str = "default";
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

/// Where sessions live: the primary (reads and writes), replicas (reads when the primary is
/// unreachable), and optionally Sentinel to find the primary after a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTopology {
    /// The expected primary: tried first, so the common path stays one round trip.
    pub primary: String,
    pub replicas: Vec<String>,
    pub sentinel: Option<Sentinel>,
    /// Redis Cluster primaries, in the order their slot ranges were assigned (empty: no cluster).
    pub cluster: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentinel {
    pub addresses: Vec<String>,
    pub master_name: String,
}

impl RedisTopology {
    /// The URL of the node at `host:port` (for a redirection), with the primary's credentials.
    pub fn node_at(&self, addr: &str) -> Option<String> {
        let (host, port) = addr.rsplit_once(':')?;
        self.primary_at(host.trim_start_matches('[').trim_end_matches(']'), port)
    }

    /// The primary's URL moved to `host:port` (credentials and database kept).
    pub fn primary_at(&self, host: &str, port: &str) -> Option<String> {
        let uri: Uri = self.primary.parse().ok()?;
        let authority = uri.authority()?.as_str();
        let userinfo = authority
            .rsplit_once('@')
            .map_or(String::new(), |(u, _)| format!("{u}@"));
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let path = uri.path_and_query().map_or("", |pq| pq.as_str());
        Some(format!("{}://{userinfo}{host}:{port}{path}", uri.scheme_str()?))
    }
}

/// A variable lookup as the sections read it: trimmed, `None` when unset or empty.
pub type Variables<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The whole configuration, every section parsed and checked: what a deployment check
/// wants. A request reads only the sections its path needs (see each section), so under
/// Spin, where each variable lookup has a cost, a request pays for what it uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub session_cookie: SessionCookie,
    pub routing: Routing,
    pub codec: Codec,
    pub sessions: Sessions,
    pub lifetimes: Lifetimes,
    pub forwarding: Forwarding,
    pub cookie: CookieSettings,
}

impl Config {
    /// Builds the configuration from a variable lookup (`None` or empty: not set).
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = trimmed(lookup);
        let session_cookie = SessionCookie::parse(&get)?;
        Ok(Self {
            forwarding: Forwarding::parse(&get)?,
            sessions: Sessions::parse(&get, session_cookie.format, true)?,
            codec: Codec::parse(&get, &session_cookie)?,
            routing: Routing::parse(&get)?,
            lifetimes: Lifetimes::parse(&get, session_cookie.format)?,
            cookie: CookieSettings::parse(&get, &session_cookie)?,
            session_cookie,
        })
    }
}

/// `lookup` as the sections read variables: see [`setting`].
fn trimmed(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| setting(lookup(name))
}

/// A variable's value as the sections take it: trimmed, and empty taken for unset.
pub fn setting(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(get: Variables<'_>, name: &'static str) -> Result<String, ConfigError> {
    get(name).ok_or_else(|| ConfigError::new(name, "is not set"))
}

fn or_default(get: Variables<'_>, name: &str, default: &str) -> String {
    get(name).unwrap_or_else(|| default.to_owned())
}

/// Whose sessions, by name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatName {
    Native,
    Express,
    Flask,
    Django,
    Php,
    Laravel,
    Spring,
}

impl FormatName {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        Ok(match value {
            "native" => Self::Native,
            "express" => Self::Express,
            "flask" => Self::Flask,
            "django" => Self::Django,
            "php" => Self::Php,
            "laravel" => Self::Laravel,
            "spring" => Self::Spring,
            other => {
                return Err(ConfigError::new(
                    SESSION_FORMAT,
                    format!(
                        "must be `native`, `express`, `flask`, `django`, `php`, `laravel` or `spring`, not `{other}`"
                    ),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Express => "express",
            Self::Flask => "flask",
            Self::Django => "django",
            Self::Php => "php",
            Self::Laravel => "laravel",
            Self::Spring => "spring",
        }
    }

    /// Which of the request's cookies of that name the app reads, so the gateway reads the same.
    pub fn pick(self) -> Pick {
        match self {
            Self::Native | Self::Spring => Pick::AnyThatVerifies,
            Self::Php | Self::Laravel => Pick::AsPhp,
            Self::Express | Self::Flask | Self::Django => Pick::First,
        }
    }

    fn defaults(self) -> (&'static str, &'static str) {
        match self {
            Self::Native => (defaults::COOKIE_NAME, defaults::KEY_PREFIX),
            Self::Express => (express::DEFAULT_COOKIE_NAME, express::DEFAULT_KEY_PREFIX),
            Self::Flask => (flask::DEFAULT_COOKIE_NAME, flask::DEFAULT_KEY_PREFIX),
            Self::Django => (django::DEFAULT_COOKIE_NAME, django::DEFAULT_KEY_PREFIX),
            Self::Php => (php::DEFAULT_COOKIE_NAME, php::DEFAULT_KEY_PREFIX),
            Self::Laravel => (laravel::DEFAULT_COOKIE_NAME, laravel::DEFAULT_KEY_PREFIX),
            Self::Spring => (spring::DEFAULT_COOKIE_NAME, spring::DEFAULT_KEY_PREFIX),
        }
    }
}

/// Which cookie holds the session: every request reads this section first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub format: FormatName,
    pub name: String,
}

impl SessionCookie {
    pub fn parse(get: Variables<'_>) -> Result<Self, ConfigError> {
        let format = FormatName::parse(&or_default(get, SESSION_FORMAT, defaults::SESSION_FORMAT))?;
        let name = or_default(get, COOKIE_NAME, format.defaults().0);
        if !is_cookie_name(&name) {
            return Err(ConfigError::new(
                COOKIE_NAME,
                "is not a valid cookie name (RFC 6265 token)",
            ));
        }
        Ok(Self { format, name })
    }
}

/// What requests without a session meet: read only for those.
#[derive(Debug, Clone)]
pub struct Routing {
    pub public_paths: PublicPaths,
    pub login: Option<LoginRedirect>,
}

impl Routing {
    pub fn parse(get: Variables<'_>) -> Result<Self, ConfigError> {
        let public_paths = PublicPaths::parse(&get(PUBLIC_PATHS).unwrap_or_default())
            .map_err(|p| ConfigError::new(PUBLIC_PATHS, p))?;
        let login = match get(LOGIN_URL) {
            None => None,
            Some(url) => {
                let param = or_default(get, LOGIN_NEXT_PARAM, defaults::LOGIN_NEXT_PARAM);
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
        Ok(Self { public_paths, login })
    }
}

impl Codec {
    /// Read only when the request carries a cookie of the session's name. Formats whose
    /// cookie is not signed by the gateway's keys do not read `session_keys`.
    pub fn parse(get: Variables<'_>, cookie: &SessionCookie) -> Result<Self, ConfigError> {
        let secrets = || required(get, SESSION_KEYS);
        let keys = |e: &dyn std::fmt::Display| ConfigError::new(SESSION_KEYS, e.to_string());
        Ok(match cookie.format {
            FormatName::Native => Self::Native(SignedCookieV1::new(KeyRing::parse(&secrets()?).map_err(|e| keys(&e))?)),
            FormatName::Express => Self::Express(ExpressCookie::new(
                KeyRing::parse_with_minimum(&secrets()?, 1).map_err(|e| keys(&e))?,
            )),
            FormatName::Flask => Self::Flask(if flag(get, SESSION_COOKIE_SIGNED, false)? {
                FlaskCookie::signed(secrets()?.split(',').map(str::trim).filter(|s| !s.is_empty()))
            } else {
                FlaskCookie::unsigned()
            }),
            FormatName::Django => Self::Django(DjangoCookie),
            FormatName::Spring => Self::Spring(if flag(get, SESSION_COOKIE_BASE64, true)? {
                SpringCookie::base64()
            } else {
                SpringCookie::raw()
            }),
            // The cookie value's prefix is an HMAC of the cookie's name: the codec needs it.
            FormatName::Laravel => Self::Laravel(LaravelCookie::new(&cookie.name, &secrets()?).map_err(|e| keys(&e))?),
            FormatName::Php => Self::Php(match get(SESSION_PHP_SID) {
                None => PhpCookie::default(),
                Some(sid) => sid
                    .split_once(',')
                    .and_then(|(length, bits)| {
                        PhpCookie::configured(length.trim().parse().ok()?, bits.trim().parse().ok()?)
                    })
                    .ok_or_else(|| {
                        ConfigError::new(
                            SESSION_PHP_SID,
                            "must be `<session.sid_length>,<session.sid_bits_per_character>` such as `26,5` \
                             (22 to 256 characters, 4 to 6 bits)",
                        )
                    })?,
            }),
        })
    }
}

/// Where sessions live and how their records read: read once a cookie verifies, or when a
/// hook writes.
#[derive(Debug, Clone)]
pub struct Sessions {
    pub redis: RedisTopology,
    pub reads: SessionReads,
    pub key_prefix: String,
    /// Bound on each Redis call (connect included): past it the request fails closed.
    pub redis_timeout: Duration,
    pub format: SessionFormat,
}

impl Sessions {
    /// `calls_bounded`: whether the build can bound a Redis call at all. Where it cannot
    /// (wasi:http 0.2), `redis_timeout_ms` is not read and key-value reads are refused.
    pub fn parse(get: Variables<'_>, format: FormatName, calls_bounded: bool) -> Result<Self, ConfigError> {
        let redis = RedisTopology {
            primary: parse_redis_address(REDIS_ADDRESS, &required(get, REDIS_ADDRESS)?)?,
            replicas: parse_redis_list(REDIS_REPLICAS, get(REDIS_REPLICAS))?,
            sentinel: match parse_redis_list(REDIS_SENTINELS, get(REDIS_SENTINELS))? {
                sentinels if sentinels.is_empty() => None,
                addresses => Some(Sentinel {
                    addresses,
                    master_name: get(REDIS_MASTER_NAME)
                        .ok_or_else(|| ConfigError::new(REDIS_MASTER_NAME, "is required with `redis_sentinels`"))?,
                }),
            },
            cluster: parse_redis_list(REDIS_CLUSTER_NODES, get(REDIS_CLUSTER_NODES))?,
        };
        let reads = match or_default(get, SESSION_READS, defaults::SESSION_READS).as_str() {
            "redis" => SessionReads::Redis,
            "key_value" if !redis.cluster.is_empty() => {
                return Err(ConfigError::new(
                    SESSION_READS,
                    "`key_value` cannot be used with `redis_cluster_nodes`: Spin's key-value Redis store \
                     talks to one server and does not follow Cluster redirections",
                ));
            }
            "key_value" if redis.sentinel.is_some() || !redis.replicas.is_empty() => {
                return Err(ConfigError::new(
                    SESSION_READS,
                    "`key_value` cannot be used with `redis_sentinels` or `redis_replicas`: the key-value store \
                     stays on the one server its runtime config names, which a failover can turn into a stale \
                     replica",
                ));
            }
            "key_value" if format == FormatName::Spring => {
                return Err(ConfigError::new(
                    SESSION_READS,
                    "`key_value` cannot be used with `spring`: Spring keeps each session in a Redis hash, and Spin's \
                     key-value store reads strings only",
                ));
            }
            // Measured under Spin 3.6.3: with the store's Redis down, each request waited over
            // 30 s in Spin's key-value client, where 503 is the answer owed.
            "key_value" if !calls_bounded => {
                return Err(ConfigError::new(
                    SESSION_READS,
                    "`key_value` needs the wasi:http 0.3 build (spin-p3.toml): in this build a key-value call \
                     cannot be bounded, and a Redis that is down would hold every request in Spin's key-value \
                     client instead of failing it",
                ));
            }
            "key_value" => SessionReads::KeyValue,
            other => {
                return Err(ConfigError::new(
                    SESSION_READS,
                    format!("must be `redis` or `key_value`, not `{other}`"),
                ));
            }
        };
        let redis_timeout = if calls_bounded {
            millis(get, REDIS_TIMEOUT_MS, defaults::REDIS_TIMEOUT_MS)?
        } else {
            defaults::REDIS_TIMEOUT_MS
        };
        Ok(Self {
            redis,
            reads,
            key_prefix: or_default(get, KEY_PREFIX, format.defaults().1),
            redis_timeout: Duration::from_millis(redis_timeout),
            format: SessionFormat::parse(get, format)?,
        })
    }

    /// The Redis key of a session: the gateway's layout for its own sessions, prefix + id
    /// for a framework's.
    pub fn session_key(&self, id: &crate::SessionId) -> String {
        match self.format {
            SessionFormat::Native => crate::redis_layout::session_key(&self.key_prefix, id),
            SessionFormat::Express(_)
            | SessionFormat::Flask(_)
            | SessionFormat::Django(_)
            | SessionFormat::Php(..)
            | SessionFormat::Laravel(_)
            | SessionFormat::Spring(..) => {
                format!("{}{}", self.key_prefix, id.as_str())
            }
        }
    }

    /// The Redis key of a user's session index.
    pub fn user_index_key(&self, user_id: &str) -> String {
        crate::redis_layout::user_index_key(&self.key_prefix, user_id)
    }
}

impl SessionFormat {
    /// How a framework's record reads (no variable for native sessions).
    fn parse(get: Variables<'_>, format: FormatName) -> Result<Self, ConfigError> {
        let record = |default: &str| {
            let user_pointer = or_default(get, SESSION_USER_POINTER, default);
            if !user_pointer.starts_with('/') {
                return Err(ConfigError::new(
                    SESSION_USER_POINTER,
                    "must be a JSON pointer such as `/passport/user`",
                ));
            }
            let data_keys = get(SESSION_DATA_KEYS).map(|keys| {
                keys.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            Ok(ForeignRecord {
                user_pointer,
                data_keys,
            })
        };
        Ok(match format {
            FormatName::Native => Self::Native,
            FormatName::Express => Self::Express(record(express::DEFAULT_USER_POINTER)?),
            FormatName::Flask => Self::Flask(record(flask::DEFAULT_USER_POINTER)?),
            FormatName::Django => Self::Django(record(django::DEFAULT_USER_POINTER)?),
            FormatName::Laravel => Self::Laravel(record(laravel::DEFAULT_USER_POINTER)?),
            FormatName::Spring => Self::Spring(
                record(spring::DEFAULT_USER_POINTER)?,
                match get(SESSION_SERIALIZER).as_deref() {
                    None | Some("jdk") => SpringSerializer::Jdk,
                    Some("json") => SpringSerializer::Json,
                    Some(other) => {
                        return Err(ConfigError::new(
                            SESSION_SERIALIZER,
                            format!("must be `jdk` or `json` with `spring`, not `{other}`"),
                        ));
                    }
                },
            ),
            FormatName::Php => Self::Php(
                record(php::DEFAULT_USER_POINTER)?,
                match get(SESSION_SERIALIZER).as_deref() {
                    None | Some("php") => SerializeHandler::Php,
                    Some("php_serialize") => SerializeHandler::PhpSerialize,
                    Some(other) => {
                        return Err(ConfigError::new(
                            SESSION_SERIALIZER,
                            format!("must be `php` or `php_serialize` with `php`, not `{other}`"),
                        ));
                    }
                },
            ),
        })
    }
}

/// How long sessions live: read once a session is found.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetimes {
    pub expiry: Expiry,
    /// A framework's touch-on-read, when turned on (foreign formats only).
    pub touch: Option<Touch>,
}

impl Lifetimes {
    pub fn parse(get: Variables<'_>, format: FormatName) -> Result<Self, ConfigError> {
        let expiry = Expiry {
            idle_secs: seconds(get, IDLE_TIMEOUT, defaults::IDLE_TIMEOUT_SECS)?,
            absolute_secs: seconds(get, ABSOLUTE_TIMEOUT, defaults::ABSOLUTE_TIMEOUT_SECS)?,
            refresh_fraction: match get(REFRESH_FRACTION) {
                None => defaults::REFRESH_FRACTION,
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| *f > 0.0 && *f <= 1.0)
                    .ok_or_else(|| ConfigError::new(REFRESH_FRACTION, "must be a number above 0 and at most 1"))?,
            },
        };
        let touch = match (get(SESSION_TOUCH_SECS), format) {
            (None, _) => None,
            (Some(_), FormatName::Native) => {
                return Err(ConfigError::new(
                    SESSION_TOUCH_SECS,
                    "is for a framework's sessions: native sessions refresh by `idle_timeout`",
                ));
            }
            (Some(_), FormatName::Spring) => {
                return Err(ConfigError::new(
                    SESSION_TOUCH_SECS,
                    "cannot be used with `spring`: its expiry is `lastAccessedTime` inside the session, which only the app writes",
                ));
            }
            (Some(_), _) => Some(Touch {
                lifetime_secs: seconds(get, SESSION_TOUCH_SECS, 0)?,
            }),
        };
        Ok(Self { expiry, touch })
    }
}

/// Where and how requests are forwarded: read for every forward, since the identity and
/// hook headers a client sends are removed from every one.
#[derive(Debug, Clone)]
pub struct Forwarding {
    pub origin: Origin,
    /// Bound on connecting to the origin and on its first response byte.
    pub origin_timeout: Duration,
    pub identity_headers: IdentityHeaders,
    pub hook_headers: HookHeaders,
}

impl Forwarding {
    pub fn parse(get: Variables<'_>) -> Result<Self, ConfigError> {
        let origin = parse_origin(&required(get, ORIGIN_URL)?)?;
        let user_header = parse_identity_header(USER_HEADER, &or_default(get, USER_HEADER, defaults::USER_HEADER))?;
        let data_header = parse_identity_header(DATA_HEADER, &or_default(get, DATA_HEADER, defaults::DATA_HEADER))?;
        if folded(user_header.as_str()) == folded(data_header.as_str()) {
            return Err(ConfigError::new(
                DATA_HEADER,
                format!("is the same header as `{USER_HEADER}`"),
            ));
        }
        let hook_headers = HookHeaders::new(&or_default(get, HOOK_HEADER_PREFIX, defaults::HOOK_HEADER_PREFIX))
            .ok_or_else(|| {
                ConfigError::new(
                    HOOK_HEADER_PREFIX,
                    "must be lowercase letters, digits and '-', ending in '-' (like `x-sgw-`)",
                )
            })?;
        for (variable, header) in [(USER_HEADER, &user_header), (DATA_HEADER, &data_header)] {
            if hook_headers.owns(header) {
                return Err(ConfigError::new(
                    variable,
                    format!("falls under `{HOOK_HEADER_PREFIX}`"),
                ));
            }
        }
        Ok(Self {
            origin,
            origin_timeout: Duration::from_millis(millis(get, ORIGIN_TIMEOUT_MS, defaults::ORIGIN_TIMEOUT_MS)?),
            identity_headers: IdentityHeaders {
                user: user_header,
                data: data_header,
            },
            hook_headers,
        })
    }
}

impl CookieSettings {
    /// The `Set-Cookie` a hook writes: read only when the origin sends a hook.
    pub fn parse(get: Variables<'_>, cookie: &SessionCookie) -> Result<Self, ConfigError> {
        let settings = Self {
            name: cookie.name.clone(),
            secure: flag(get, COOKIE_SECURE, true)?,
            same_site: match get(COOKIE_SAME_SITE).map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("lax") => SameSite::Lax,
                Some("strict") => SameSite::Strict,
                Some("none") => SameSite::None,
                Some(_) => return Err(ConfigError::new(COOKIE_SAME_SITE, "must be `Lax`, `Strict` or `None`")),
            },
            domain: get(COOKIE_DOMAIN),
            persistent: flag(get, COOKIE_PERSISTENT, false)?,
        };
        if settings
            .domain
            .as_deref()
            .is_some_and(|d| !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        {
            return Err(ConfigError::new(COOKIE_DOMAIN, "is not a domain name"));
        }
        settings.validate().map_err(|e| {
            let variable = match e {
                CookieSettingsError::HostForbidsDomain => COOKIE_DOMAIN,
                CookieSettingsError::SameSiteNoneNeedsSecure => COOKIE_SAME_SITE,
                CookieSettingsError::HostNeedsSecure | CookieSettingsError::SecurePrefixNeedsSecure => COOKIE_SECURE,
            };
            ConfigError::new(variable, format!("{e} (cookie `{}`)", settings.name))
        })?;
        Ok(settings)
    }
}

/// A whole number from 1 to `max`, or `default` when unset; `unit` names it in the error.
fn whole(get: Variables<'_>, name: &'static str, default: u64, max: u64, unit: &str) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0 && n <= max)
            .ok_or_else(|| ConfigError::new(name, format!("must be a whole number of {unit} from 1 to {max}"))),
    }
}

/// Seconds, up to ten years.
fn seconds(get: Variables<'_>, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    whole(get, name, default, 10 * 365 * 24 * 3600, "seconds")
}

/// Milliseconds, up to ten minutes.
fn millis(get: Variables<'_>, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    whole(get, name, default, 600_000, "milliseconds")
}

fn flag(get: Variables<'_>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ConfigError::new(name, "must be `true` or `false`")),
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

fn parse_redis_address(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let err = |p: &str| ConfigError::new(variable, format!("{p} (expected redis://host[:port] or rediss://...)"));
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

/// A comma-separated list of Redis URLs (empty: none).
fn parse_redis_list(variable: &'static str, value: Option<String>) -> Result<Vec<String>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| parse_redis_address(variable, a))
        .collect()
}

fn parse_identity_header(variable: &'static str, value: &str) -> Result<HeaderName, ConfigError> {
    let name = HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigError::new(variable, "is not a valid header name"))?;
    let folded = folded(name.as_str());
    let reserved = is_hop_by_hop(&name)
        || [
            http::header::HOST,
            http::header::COOKIE,
            http::header::CONTENT_LENGTH,
            http::header::CONTENT_TYPE,
        ]
        .iter()
        .any(|h| h.as_str() == folded)
        || folded.starts_with("x-forwarded-")
        || folded.starts_with("spin-");
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
