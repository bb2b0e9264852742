//! The session store seam: records by key, and the lifecycle writes, each one round trip.
//! Redis through Spin today (one connection per request, opened on first use). Reads could
//! move to Spin's key-value interface (a pooled connection) behind the same trait; writes
//! stay on Redis, which has TTLs.

use futures::future::{Either, select};
use session_gateway_core::redis_layout;
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};
use spin_sdk::wasip3::clocks::monotonic_clock;
use std::cell::OnceCell;
use std::pin::pin;
use std::time::Duration;

#[derive(Debug)]
pub enum StoreError {
    /// The store cannot answer now: fail closed.
    Unavailable(String),
    /// The key holds something that is not a session (wrong Redis type).
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(m) => write!(f, "unavailable: {m}"),
            Self::Corrupt(m) => write!(f, "corrupt: {m}"),
        }
    }
}

/// A stored record and its remaining TTL in milliseconds (`-1`: no TTL).
pub struct Stored {
    pub bytes: Vec<u8>,
    pub remaining_ms: i64,
}

pub trait SessionStore {
    /// The record under `key`, with its remaining TTL.
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError>;
    /// Sets the TTL of `key` (no-op when it is gone).
    async fn touch(&self, key: &str, ttl_secs: u64) -> Result<(), StoreError>;
    /// Overwrites the record under `key`, keeping its TTL (no-op when it is gone).
    async fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Runs one of `redis_layout`'s scripts; returns its integer result.
    async fn script(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<i64, StoreError>;
}

pub struct RedisStore<'a> {
    address: &'a str,
    timeout: Duration,
    connection: OnceCell<Connection>,
}

impl<'a> RedisStore<'a> {
    pub fn new(address: &'a str, timeout: Duration) -> Self {
        Self {
            address,
            timeout,
            connection: OnceCell::new(),
        }
    }

    /// Spin opens a new TCP connection per `open`: open once per request, on first use.
    async fn connection(&self) -> Result<&Connection, StoreError> {
        if self.connection.get().is_none() {
            let opened = self.bounded(Connection::open(self.address)).await?;
            let _ = self.connection.set(opened);
        }
        Ok(self.connection.get().expect("set above"))
    }

    async fn execute(&self, command: &str, args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, StoreError> {
        let connection = self.connection().await?;
        self.bounded(connection.execute(command, args)).await
    }

    /// A Redis that accepts and never answers must not hang the request: every call races a
    /// timer from wasi clocks, and losing the race is an outage (fail closed).
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, Error>>) -> Result<T, StoreError> {
        let timer = monotonic_clock::wait_for(self.timeout.as_nanos().min(u64::MAX as u128) as u64);
        match select(pin!(call), pin!(timer)).await {
            Either::Left((result, _)) => result.map_err(classify),
            Either::Right(((), _)) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

impl SessionStore for RedisStore<'_> {
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let args = vec![
            binary(redis_layout::LOOKUP.as_bytes()),
            RedisParameter::Int64(1),
            binary(key.as_bytes()),
        ];
        match self.execute("EVAL", args).await?.as_slice() {
            [RedisResult::Binary(bytes), RedisResult::Int64(remaining_ms)] => Ok(Some(Stored {
                bytes: bytes.clone(),
                remaining_ms: *remaining_ms,
            })),
            [RedisResult::Nil, ..] | [] => Ok(None),
            other => Err(StoreError::Corrupt(format!(
                "unexpected reply shape ({} values)",
                other.len()
            ))),
        }
    }

    async fn touch(&self, key: &str, ttl_secs: u64) -> Result<(), StoreError> {
        let args = vec![binary(key.as_bytes()), RedisParameter::Int64(ttl_secs as i64)];
        self.execute("EXPIRE", args).await.map(drop)
    }

    async fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let args = vec![binary(key.as_bytes()), binary(bytes), binary(b"KEEPTTL"), binary(b"XX")];
        self.execute("SET", args).await.map(drop)
    }

    async fn script(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<i64, StoreError> {
        let mut params = vec![binary(script.as_bytes()), RedisParameter::Int64(keys.len() as i64)];
        params.extend(keys.iter().map(|k| binary(k.as_bytes())));
        params.extend(args.iter().map(|a| binary(a)));
        match self.execute("EVAL", params).await?.as_slice() {
            [RedisResult::Int64(n)] => Ok(*n),
            _ => Err(StoreError::Corrupt(
                "a script answered with something other than an integer".into(),
            )),
        }
    }
}

/// Wrong-type errors mean a bad record, not an outage.
fn classify(error: Error) -> StoreError {
    match error {
        Error::TypeError => StoreError::Corrupt("the key is not a string".into()),
        Error::Other(message) if message.contains("WRONGTYPE") => StoreError::Corrupt("the key is not a string".into()),
        Error::InvalidAddress => StoreError::Unavailable("invalid or disallowed address".into()),
        Error::TooManyConnections => StoreError::Unavailable("too many connections".into()),
        Error::Other(message) => StoreError::Unavailable(message),
    }
}
