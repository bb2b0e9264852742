//! session-gateway as a Spin HTTP component for wasi:http 0.3 (spin-sdk 7): the thin adapter
//! between Spin and the flow. The request's story is `session_gateway_flow::handle`; this
//! crate gives it Spin's Redis, key-value store, variables, clocks and logs ([`Spin`]), and
//! the HTTP forward and relay with wasip3 body streams ([`upstream`]).

mod replies;
mod upstream;

use session_gateway_core::hooks::HookHeaders;
use session_gateway_core::replies::Reply;
use session_gateway_flow::{Forward, Level, Platform, RedisError, RedisParameter, RedisResult};
use spin_sdk::http::Request;
use spin_sdk::wasip3::clocks::monotonic_clock;
use spin_sdk::wasip3::http::types::{ErrorCode, Response};
use spin_sdk::wasip3::http_compat::IncomingRequestBody;
use spin_sdk::{key_value, redis, variables};
use upstream::{HttpOrigin, OriginResponse};

#[spin_sdk::http_service]
async fn handle(request: Request) -> Result<Response, ErrorCode> {
    let (head, body) = request.into_parts();
    session_gateway_flow::handle(&Spin, &Http, head, body).await
}

/// Spin's host interfaces, as spin-sdk 7 gives them.
struct Spin;

impl Platform for Spin {
    type Connection = redis::Connection;
    type KeyValueStore = key_value::Store;

    async fn redis_open(&self, address: &str) -> Result<redis::Connection, RedisError> {
        redis::Connection::open(address).await.map_err(redis_error)
    }

    async fn redis_execute(
        &self,
        connection: &redis::Connection,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, RedisError> {
        let args = args.into_iter().map(|arg| match arg {
            RedisParameter::Int64(n) => redis::RedisParameter::Int64(n),
            RedisParameter::Binary(bytes) => redis::RedisParameter::Binary(bytes),
        });
        let results = connection.execute(command, args).await.map_err(redis_error)?;
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
        connection.get(key).await.map_err(redis_error)
    }

    async fn key_value_open(&self, label: &str) -> Result<key_value::Store, String> {
        key_value::Store::open(label).await.map_err(|e| e.to_string())
    }

    async fn key_value_get(&self, store: &key_value::Store, key: &str) -> Result<Option<Vec<u8>>, String> {
        store.get(key).await.map_err(|e| e.to_string())
    }

    async fn variable(&self, name: &str) -> Result<Option<String>, String> {
        match variables::get(name).await {
            Ok(value) => Ok(Some(value)),
            Err(variables::Error::Undefined(_)) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    fn monotonic_ns(&self) -> u64 {
        monotonic_clock::now()
    }

    async fn wait_for(&self, ns: u64) {
        monotonic_clock::wait_for(ns).await
    }

    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), String> {
        getrandom::fill(bytes).map_err(|e| e.to_string())
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

/// The origin over wasi:http 0.3, bodies as wasip3 streams.
struct Http;

impl session_gateway_flow::Upstream for Http {
    type Body = IncomingRequestBody;
    type Response = OriginResponse;
    type Error = ErrorCode;
    type Output = Result<Response, ErrorCode>;

    async fn forward(&self, request: Forward<'_, IncomingRequestBody>) -> Result<OriginResponse, ErrorCode> {
        HttpOrigin::new(request.origin, request.timeout)
            .forward(
                request.head,
                request.body,
                request.owned,
                request.client,
                request.access,
            )
            .await
    }

    fn is_timeout(&self, error: &ErrorCode) -> bool {
        upstream::is_timeout(error)
    }

    fn headers<'r>(&self, response: &'r OriginResponse) -> &'r http::HeaderMap {
        &response.headers
    }

    async fn relay(
        &self,
        response: OriginResponse,
        hooks: &HookHeaders,
        set_cookies: Vec<String>,
    ) -> Result<Response, ErrorCode> {
        upstream::relay(response, hooks, set_cookies).await
    }

    fn reply(&self, reply: Reply) -> Result<Response, ErrorCode> {
        replies::to_wasi(reply)
    }
}
