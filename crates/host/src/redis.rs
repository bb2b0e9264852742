//! `spin:redis/redis@3.0.0` on the `redis` crate, shaped as Spin shapes it: each `open` is
//! a new multiplexed connection (after the allowed-hosts check), errors reach the guest as
//! `Error::Other(<redis error text>)`, and `execute` flattens nested arrays into one list.

use crate::spin_imports::SpinHost;
use crate::spin_imports::redis_v3::{self as v3, Error, RedisParameter, RedisResult};
use crate::state::InstanceState;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use wasmtime::component::{Accessor, Resource};

/// The host side of a guest's `connection` resource.
pub struct RedisConnection(pub(crate) MultiplexedConnection);

/// Spin's redis crate prints server errors as "An error was signalled by the server - <kind>: <detail>"
/// (a redirection: "... - Moved: 15495 127.0.0.1:17202"); this one prints only "<kind>: <detail>".
/// The component sees Spin's text.
fn other(error: redis::RedisError) -> Error {
    match error.kind() {
        redis::ErrorKind::Server(_) => Error::Other(format!("An error was signalled by the server - {error}")),
        _ => Error::Other(error.to_string()),
    }
}

fn connection<T>(
    accessor: &Accessor<T, SpinHost>,
    handle: &Resource<RedisConnection>,
) -> Result<MultiplexedConnection, Error> {
    accessor.with(|mut access| {
        let state = access.get();
        state
            .app
            .redis_stats
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state
            .table
            .get(handle)
            .map(|c| c.0.clone())
            .map_err(|_| Error::Other("could not find connection for resource".into()))
    })
}

impl v3::Host for InstanceState {}

impl v3::HostConnection for InstanceState {}

impl<T> v3::HostConnectionWithStore<T> for SpinHost {
    async fn drop(accessor: &Accessor<T, Self>, handle: Resource<RedisConnection>) -> wasmtime::Result<()> {
        accessor.with(|mut access| access.get().table.delete(handle))?;
        Ok(())
    }

    async fn open(accessor: &Accessor<T, Self>, address: String) -> Result<Resource<RedisConnection>, Error> {
        let app = accessor.with(|mut access| access.get().app.clone());
        let conn = open(&app, &address).await?;
        accessor.with(|mut access| {
            access
                .get()
                .table
                .push(RedisConnection(conn))
                .map_err(|_| Error::TooManyConnections)
        })
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        let mut conn = connection(accessor, &this)?;
        conn.publish::<_, _, ()>(channel, payload).await.map_err(other)
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.get(key).await.map_err(other)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let mut conn = connection(accessor, &this)?;
        conn.set::<_, _, ()>(key, value).await.map_err(other)
    }

    async fn incr(accessor: &Accessor<T, Self>, this: Resource<RedisConnection>, key: String) -> Result<i64, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.incr(key, 1).await.map_err(other)
    }

    async fn del(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.del(keys).await.map_err(other)
    }

    async fn sadd(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.sadd(key, values).await.map_err(|e| {
            if e.code() == Some("WRONGTYPE") {
                Error::TypeError
            } else {
                other(e)
            }
        })
    }

    async fn smembers(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.smembers(key).await.map_err(other)
    }

    async fn srem(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        let mut conn = connection(accessor, &this)?;
        conn.srem(key, values).await.map_err(other)
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        this: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        execute(connection(accessor, &this)?, &command, arguments).await
    }
}

/// A new connection to `address`, if the app's allowed hosts take it (a new TCP connection
/// each time, as Spin's outbound Redis makes).
pub(crate) async fn open(app: &crate::App, address: &str) -> Result<MultiplexedConnection, Error> {
    app.redis_stats.opens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if !app.allowed_hosts.allows_url(address) {
        return Err(Error::InvalidAddress);
    }
    let client = match &app.redis_ca {
        Some(root_cert) if address.starts_with("rediss://") => {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert.clone()),
            };
            redis::Client::build_with_tls(address, certs)
        }
        _ => redis::Client::open(address),
    }
    .map_err(|_| Error::InvalidAddress)?;
    // Spin's redis client (0.32) waits without limit for a connection and for each reply;
    // redis 1's defaults (1 s, 500 ms) would bound a silent Redis that Spin does not.
    let unbounded = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&unbounded)
        .await
        .map_err(other)
}

/// `execute`, shared by both versions of the interface.
pub(crate) async fn execute(
    mut conn: MultiplexedConnection,
    command: &str,
    arguments: Vec<RedisParameter>,
) -> Result<Vec<RedisResult>, Error> {
    let mut cmd = redis::cmd(command);
    for argument in arguments {
        match argument {
            RedisParameter::Int64(v) => cmd.arg(v),
            RedisParameter::Binary(v) => cmd.arg(v),
        };
    }
    let value: Value = cmd.query_async(&mut conn).await.map_err(other)?;
    let mut results = Vec::new();
    flatten(value, &mut results)?;
    Ok(results)
}

/// Spin hands `execute` results over as one flat list, nested arrays included.
fn flatten(value: Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    let unsupported = |what: &str| Err(Error::Other(format!("Could not convert Redis response - {what}")));
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(v) => out.push(RedisResult::Int64(v)),
        Value::BulkString(b) => out.push(RedisResult::Binary(b)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Double(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Boolean(v) => out.push(RedisResult::Int64(v.into())),
        Value::BigNumber(v) => out.push(RedisResult::Binary(v)),
        Value::Map(_) => return unsupported("Redis Map type is not supported"),
        Value::Attribute { .. } => return unsupported("Redis Attribute type is not supported"),
        Value::VerbatimString { .. } => return unsupported("Redis string with format attribute is not supported"),
        Value::Push { .. } => return unsupported("Redis Pub/Sub types are not supported"),
        Value::ServerError(e) => return Err(Error::Other(format!("An error was signalled by the server - {e}"))),
        _ => return unsupported("unknown Redis value type"),
    }
    Ok(())
}
