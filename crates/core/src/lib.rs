//! The pure core of session-gateway.
//!
//! Everything here is plain Rust over `http` types and bytes: no Spin, no I/O, no clock
//! and no randomness of its own (callers pass `now` and random bytes in). That keeps every
//! security decision testable natively and lets the same core sit behind other adapters
//! (Spin middleware, other session formats) later.

pub mod cluster;
pub mod config;
pub mod cookie_codec;
pub mod django;
pub mod expiry;
pub mod express;
pub mod flask;
pub mod forwarding;
pub mod hooks;
pub mod keys;
pub mod laravel;
pub mod php;
pub mod php_serialize;
pub mod policy;
pub mod redis_layout;
pub mod replies;
pub mod session;
pub mod set_cookie;
pub mod spring;

pub use config::{Config, ConfigError};
pub use cookie_codec::{CookieCodec, SessionId, SignedCookieV1, VerifiedSessionId};
pub use keys::KeyRing;
pub use policy::{Access, Decision, SessionLookup};
pub use session::{Session, SessionDecoder, SessionRecordV1};
