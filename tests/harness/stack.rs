//! The usual arrangement: a gateway in front of a recording origin, with its own Redis.

use crate::sessions::{self, KEY_A};
use crate::{Gateway, Origin, RedisServer, Reply};

pub struct Stack {
    pub redis: RedisServer,
    pub origin: Origin,
    pub gateway: Gateway,
}

impl Stack {
    /// `origin_url`, `redis_address` and `session_keys` (KEY_A) are set; `extra` adds to or
    /// overrides them.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        Self::start_with(RedisServer::start(), extra).await
    }

    pub async fn start_with(redis: RedisServer, extra: &[(&str, &str)]) -> Self {
        let origin = Origin::start().await;
        let (origin_url, redis_url) = (origin.url(), redis.url());
        let mut vars = vec![
            ("origin_url", origin_url.as_str()),
            ("redis_address", redis_url.as_str()),
            ("session_keys", KEY_A),
        ];
        vars.extend_from_slice(extra);
        let gateway = Gateway::start(&vars).await;
        Self { redis, origin, gateway }
    }

    pub fn redis(&self) -> redis::Connection {
        self.redis.connection().expect("redis")
    }

    /// A session written straight into Redis (as `sgw create` does); returns its cookie value.
    pub fn create_session(&self, user: &str, data: serde_json::Value) -> String {
        sessions::create(&mut self.redis(), user, data, KEY_A)
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        crate::client::get(self.gateway.addr, path, headers).await
    }
}
