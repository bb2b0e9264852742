//! session-gateway as a Spin HTTP component for wasi:http 0.2 (spin-sdk 5.2, `fermyon:spin@2.0.0`):
//! the world released Spin (3.x, 4.0) and SpinKube's shim load. Like `session-gateway` (the
//! wasi:http 0.3 build), a thin adapter: the request's story is `session_gateway_flow::handle`;
//! this crate gives it Spin's Redis, key-value store, variables, clocks and logs ([`Spin`]),
//! and the HTTP forward and relay over wasi:http 0.2 resources ([`upstream`]).
//!
//! What this world cannot do as the 0.3 one does: its Redis, key-value and variables calls are
//! synchronous, so while one runs the whole component waits (see [`Spin::wait_for`]).

mod poll;
mod replies;
mod upstream;

use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::replies::Reply;
use session_gateway_flow::{Forward, Level, Platform, RedisError, RedisParameter, RedisResult};
use spin_sdk::http::{ErrorCode, IncomingRequest, ResponseOutparam};
use spin_sdk::{http_component, key_value, redis, variables};
use std::cell::RefCell;
use upstream::OriginResponse;
use wasi::clocks::monotonic_clock;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let http = Http {
        out: RefCell::new(Some(response_out)),
    };
    match upstream::head(&request) {
        Ok(head) => session_gateway_flow::handle(&Spin, &http, head, request).await,
        Err(reply) => http.respond(reply),
    }
}

/// Spin's host interfaces, as spin-sdk 5.2 gives them (all synchronous).
struct Spin;

impl Platform for Spin {
    type Connection = redis::Connection;
    type KeyValueStore = key_value::Store;
    const BOUNDS_HOST_CALLS: bool = false;

    async fn redis_open(&self, address: &str) -> Result<redis::Connection, RedisError> {
        redis::Connection::open(address).map_err(redis_error)
    }

    async fn redis_execute(
        &self,
        connection: &redis::Connection,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, RedisError> {
        let args: Vec<redis::RedisParameter> = args
            .into_iter()
            .map(|arg| match arg {
                RedisParameter::Int64(n) => redis::RedisParameter::Int64(n),
                RedisParameter::Binary(bytes) => redis::RedisParameter::Binary(bytes),
            })
            .collect();
        let results = connection.execute(command, &args).map_err(redis_error)?;
        Ok(results
            .into_iter()
            .map(|result| match result {
                redis::RedisResult::Nil => RedisResult::Nil,
                redis::RedisResult::Status(status) => RedisResult::Status(status),
                redis::RedisResult::Int64(n) => RedisResult::Int64(n),
                redis::RedisResult::Binary(bytes) => RedisResult::Binary(bytes),
            })
            .collect())
    }

    async fn redis_get(&self, connection: &redis::Connection, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        connection.get(key).map_err(redis_error)
    }

    async fn key_value_open(&self, label: &str) -> Result<key_value::Store, String> {
        key_value::Store::open(label).map_err(|e| e.to_string())
    }

    async fn key_value_get(&self, store: &key_value::Store, key: &str) -> Result<Option<Vec<u8>>, String> {
        store.get(key).map_err(|e| e.to_string())
    }

    async fn variable(&self, name: &str) -> Result<Option<String>, String> {
        match variables::get(name) {
            Ok(value) => Ok(Some(value)),
            Err(variables::Error::Undefined(_)) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    fn monotonic_ns(&self) -> u64 {
        monotonic_clock::now()
    }

    /// A real wasi:clocks timer, registered with spin-executor (which panics on a pending
    /// future with nothing registered). It never wins here: the Redis calls it races are
    /// synchronous host calls, done before the timer is first polled, and nothing in the
    /// component runs while one is blocked. A Redis that accepts and never answers holds the
    /// request as long as it is silent (Spin's Redis client has no timeout), and
    /// `redis_timeout` bounds nothing in this build.
    async fn wait_for(&self, ns: u64) {
        poll::sleep_until(poll::after(ns)).await
    }

    /// wasi:random's CSPRNG, as getrandom reads it, but through the SDK's own wasi 0.2.0
    /// bindings: getrandom's would import every wasi interface of the component at a later 0.2
    /// release than released Spin was built against.
    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), String> {
        let random = wasi::random::random::get_random_bytes(bytes.len() as u64);
        if random.len() != bytes.len() {
            return Err("wasi:random returned too few bytes".into());
        }
        bytes.copy_from_slice(&random);
        Ok(())
    }

    /// One line on stderr, which Spin collects per component.
    fn log(&self, level: Level, message: std::fmt::Arguments<'_>) {
        match level {
            Level::Error => eprintln!("session-gateway error: {message}"),
            Level::Info => eprintln!("session-gateway: {message}"),
        }
    }
}

fn redis_error(error: redis::Error) -> RedisError {
    match error {
        redis::Error::InvalidAddress => RedisError::InvalidAddress,
        redis::Error::TooManyConnections => RedisError::TooManyConnections,
        redis::Error::TypeError => RedisError::TypeError,
        redis::Error::Other(message) => RedisError::Other(message),
    }
}

/// The origin over wasi:http 0.2. The answer goes into the `ResponseOutparam` Spin handed
/// over, once: whoever answers takes it.
struct Http {
    out: RefCell<Option<ResponseOutparam>>,
}

impl Http {
    fn take_out(&self) -> Option<ResponseOutparam> {
        self.out.borrow_mut().take()
    }

    fn respond(&self, reply: Reply) {
        if let Some(out) = self.take_out() {
            replies::respond(out, reply);
        }
    }
}

impl session_gateway_flow::Upstream for Http {
    type Body = IncomingRequest;
    type Response = OriginResponse;
    type Error = ErrorCode;
    type Output = ();

    async fn forward(&self, request: Forward<'_, IncomingRequest>) -> Result<OriginResponse, ErrorCode> {
        upstream::forward(request).await
    }

    fn is_timeout(&self, error: &ErrorCode) -> bool {
        upstream::is_timeout(error)
    }

    fn headers<'r>(&self, response: &'r OriginResponse) -> &'r http::HeaderMap {
        &response.headers
    }

    async fn relay(&self, response: OriginResponse, hooks: &HookHeaders, set_cookies: Vec<String>) {
        if let Some(out) = self.take_out() {
            upstream::relay(out, response, hooks, set_cookies).await
        }
    }

    fn reply(&self, reply: Reply) {
        self.respond(reply)
    }
}
