//! `fermyon:spin@2.0.0` (redis, variables, key-value): what released Spin gives wasi:http 0.2
//! components (spin-sdk 5). Each call does what its `spin:*@3.0.0` twin does; only the types
//! differ, so both go through the same code (`redis`, `key_value`, `variables`).

use crate::key_value::KvStore;
use crate::redis::RedisConnection;
use crate::spin_imports::{key_value_v3, redis_v3, variables_v3};
use crate::state::InstanceState;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::Ordering;
use wasmtime::component::Resource;

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-imports-v2",
    imports: { default: async },
    with: {
        "fermyon:spin/redis.connection": crate::redis::RedisConnection,
        "fermyon:spin/key-value.store": crate::key_value::KvStore,
    },
});

pub use fermyon::spin::key_value as key_value_v2;
pub use fermyon::spin::redis as redis_v2;
pub use fermyon::spin::variables as variables_v2;

/// The marker through which the interfaces reach the per-request state.
pub struct SpinHostV2;

impl wasmtime::component::HasData for SpinHostV2 {
    type Data<'a> = &'a mut InstanceState;
}

/// Adds the three interfaces to `linker`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<InstanceState>) -> wasmtime::Result<()> {
    redis_v2::add_to_linker::<_, SpinHostV2>(linker, |s| s)?;
    variables_v2::add_to_linker::<_, SpinHostV2>(linker, |s| s)?;
    key_value_v2::add_to_linker::<_, SpinHostV2>(linker, |s| s)
}

fn redis_error(error: redis_v3::Error) -> redis_v2::Error {
    match error {
        redis_v3::Error::InvalidAddress => redis_v2::Error::InvalidAddress,
        redis_v3::Error::TooManyConnections => redis_v2::Error::TooManyConnections,
        redis_v3::Error::TypeError => redis_v2::Error::TypeError,
        redis_v3::Error::Other(message) => redis_v2::Error::Other(message),
    }
}

fn redis_other(error: redis::RedisError) -> redis_v2::Error {
    redis_v2::Error::Other(error.to_string())
}

impl InstanceState {
    fn redis_connection(
        &mut self,
        handle: &Resource<RedisConnection>,
    ) -> Result<MultiplexedConnection, redis_v2::Error> {
        self.app.redis_stats.calls.fetch_add(1, Ordering::Relaxed);
        self.table
            .get(handle)
            .map(|c| c.0.clone())
            .map_err(|_| redis_v2::Error::Other("could not find connection for resource".into()))
    }

    fn kv_store(&mut self, handle: &Resource<KvStore>) -> Result<KvStore, key_value_v2::Error> {
        self.app.key_value.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.table
            .get(handle)
            .map(KvStore::share)
            .map_err(|_| key_value_v2::Error::Other("could not find store for resource".into()))
    }
}

impl redis_v2::Host for InstanceState {}

impl redis_v2::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, redis_v2::Error> {
        let conn = crate::redis::open(&self.app, &address).await.map_err(redis_error)?;
        self.table
            .push(RedisConnection(conn))
            .map_err(|_| redis_v2::Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        this: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.publish::<_, _, ()>(channel, payload).await.map_err(redis_other)
    }

    async fn get(&mut self, this: Resource<RedisConnection>, key: String) -> Result<Option<Vec<u8>>, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.get(key).await.map_err(redis_other)
    }

    async fn set(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.set::<_, _, ()>(key, value).await.map_err(redis_other)
    }

    async fn incr(&mut self, this: Resource<RedisConnection>, key: String) -> Result<i64, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.incr(key, 1).await.map_err(redis_other)
    }

    async fn del(&mut self, this: Resource<RedisConnection>, keys: Vec<String>) -> Result<u32, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.del(keys).await.map_err(redis_other)
    }

    async fn sadd(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.sadd(key, values).await.map_err(|e| {
            if e.code() == Some("WRONGTYPE") {
                redis_v2::Error::TypeError
            } else {
                redis_other(e)
            }
        })
    }

    async fn smembers(&mut self, this: Resource<RedisConnection>, key: String) -> Result<Vec<String>, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.smembers(key).await.map_err(redis_other)
    }

    async fn srem(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis_v2::Error> {
        let mut conn = self.redis_connection(&this)?;
        conn.srem(key, values).await.map_err(redis_other)
    }

    async fn execute(
        &mut self,
        this: Resource<RedisConnection>,
        command: String,
        arguments: Vec<redis_v2::RedisParameter>,
    ) -> Result<Vec<redis_v2::RedisResult>, redis_v2::Error> {
        let conn = self.redis_connection(&this)?;
        let arguments = arguments
            .into_iter()
            .map(|a| match a {
                redis_v2::RedisParameter::Int64(v) => redis_v3::RedisParameter::Int64(v),
                redis_v2::RedisParameter::Binary(v) => redis_v3::RedisParameter::Binary(v),
            })
            .collect();
        let results = crate::redis::execute(conn, &command, arguments)
            .await
            .map_err(redis_error)?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                redis_v3::RedisResult::Nil => redis_v2::RedisResult::Nil,
                redis_v3::RedisResult::Status(s) => redis_v2::RedisResult::Status(s),
                redis_v3::RedisResult::Int64(v) => redis_v2::RedisResult::Int64(v),
                redis_v3::RedisResult::Binary(v) => redis_v2::RedisResult::Binary(v),
            })
            .collect())
    }

    async fn drop(&mut self, handle: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl variables_v2::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, variables_v2::Error> {
        crate::variables_host::get(&self.app, &name)
            .await
            .map_err(|error| match error {
                variables_v3::Error::InvalidName(m) => variables_v2::Error::InvalidName(m),
                variables_v3::Error::Undefined(m) => variables_v2::Error::Undefined(m),
                variables_v3::Error::Provider(m) => variables_v2::Error::Provider(m),
                variables_v3::Error::Other(m) => variables_v2::Error::Other(m),
            })
    }
}

fn kv_error(error: key_value_v3::Error) -> key_value_v2::Error {
    match error {
        key_value_v3::Error::StoreTableFull => key_value_v2::Error::StoreTableFull,
        key_value_v3::Error::NoSuchStore => key_value_v2::Error::NoSuchStore,
        key_value_v3::Error::AccessDenied => key_value_v2::Error::AccessDenied,
        key_value_v3::Error::Other(m) => key_value_v2::Error::Other(m),
    }
}

impl key_value_v2::Host for InstanceState {}

impl key_value_v2::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> Result<Resource<KvStore>, key_value_v2::Error> {
        let opened = self.app.key_value.open(&label).await.map_err(kv_error)?;
        self.table.push(opened).map_err(|_| key_value_v2::Error::StoreTableFull)
    }

    async fn get(&mut self, this: Resource<KvStore>, key: String) -> Result<Option<Vec<u8>>, key_value_v2::Error> {
        self.kv_store(&this)?.get(key).await.map_err(kv_error)
    }

    async fn set(&mut self, this: Resource<KvStore>, key: String, value: Vec<u8>) -> Result<(), key_value_v2::Error> {
        self.kv_store(&this)?.set(key, value).await.map_err(kv_error)
    }

    async fn delete(&mut self, this: Resource<KvStore>, key: String) -> Result<(), key_value_v2::Error> {
        self.kv_store(&this)?.delete(key).await.map_err(kv_error)
    }

    async fn exists(&mut self, this: Resource<KvStore>, key: String) -> Result<bool, key_value_v2::Error> {
        self.kv_store(&this)?.exists(key).await.map_err(kv_error)
    }

    async fn get_keys(&mut self, this: Resource<KvStore>) -> Result<Vec<String>, key_value_v2::Error> {
        self.kv_store(&this)?.keys().await.map_err(kv_error)
    }

    async fn drop(&mut self, handle: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
