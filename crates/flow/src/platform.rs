//! What the flow needs of the platform it runs on, and nothing more: each Spin SDK (and so
//! each wasi:http world) has its own Redis, key-value, variables, clocks and logs, and an
//! adapter implements this trait with them.
//!
//! Async methods have no `Send` bound: components are single-threaded, and the futures that
//! wasm host calls return are not `Send`.

use std::fmt;

/// One argument of a Redis command, as Spin's `redis-parameter`.
#[derive(Clone, Debug)]
pub enum RedisParameter {
    Int64(i64),
    Binary(Vec<u8>),
}

/// One value of a Redis reply, flattened as Spin's `redis-result` (nested arrays come flat).
#[derive(Clone, Debug)]
pub enum RedisResult {
    Nil,
    Status(String),
    Int64(i64),
    Binary(Vec<u8>),
}

/// A failed Redis call, as Spin's `redis::error`.
#[derive(Debug)]
pub enum RedisError {
    InvalidAddress,
    TooManyConnections,
    /// The key holds a value of another type than the command expects.
    TypeError,
    /// Anything else, with Redis's or the host's message (`WRONGTYPE ...`, `READONLY ...`,
    /// `MOVED ...`, a refused connection...): the store reads these messages.
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

#[allow(async_fn_in_trait)] // no Send bound is wanted: see the module's doc
pub trait Platform {
    /// An open Redis connection.
    type Connection;
    /// An open key-value store. Kept for the instance's life once opened, hence `'static`.
    type KeyValueStore: 'static;
    /// Whether [`Platform::wait_for`] can bound a Redis or key-value call. Not in the
    /// wasi:http 0.2 world, whose host calls block the component until they return.
    const BOUNDS_HOST_CALLS: bool = true;

    /// Opens a connection to the Redis at `address` (`redis://host:port`).
    async fn redis_open(&self, address: &str) -> Result<Self::Connection, RedisError>;
    /// Runs any command (`EVAL`, `HGETALL`, `ASKING`, `SENTINEL`...) with binary arguments.
    async fn redis_execute(
        &self,
        connection: &Self::Connection,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, RedisError>;
    /// The SDK's own `GET`: what replicas are read with.
    async fn redis_get(&self, connection: &Self::Connection, key: &str) -> Result<Option<Vec<u8>>, RedisError>;

    /// Opens the key-value store named `label`; an error is the SDK's message.
    async fn key_value_open(&self, label: &str) -> Result<Self::KeyValueStore, String>;
    async fn key_value_get(&self, store: &Self::KeyValueStore, key: &str) -> Result<Option<Vec<u8>>, String>;

    /// A variable of the component: `Ok(None)` when it is undefined, an error is the SDK's message.
    async fn variable(&self, name: &str) -> Result<Option<String>, String>;

    /// Wall-clock time, milliseconds since the Unix epoch (std's clock is wasi:clocks in every
    /// world a component builds for, so no adapter needs its own).
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
    /// Monotonic time in nanoseconds, for durations within the instance.
    fn monotonic_ns(&self) -> u64;
    /// Completes once `ns` nanoseconds have passed. Every Redis attempt races one: a Redis
    /// that accepts and never answers must not hang the request. Where the SDK's Redis and
    /// key-value calls are synchronous (wasi:http 0.2), the attempt has completed before the
    /// timer is first polled, so the timer never wins there and bounds nothing (Spin's Redis
    /// client has no timeout either).
    async fn wait_for(&self, ns: u64);

    /// Fills `bytes` from the host's CSPRNG; an error is the source's message.
    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), String>;

    /// Writes one line of log. Never given a cookie, a session id or a key.
    fn log(&self, level: Level, message: fmt::Arguments<'_>);
}
