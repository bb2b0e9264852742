//! `spin:key-value/key-value@3.0.0`, as Spin gives it (crates/factor-key-value): a component
//! opens only the labels its manifest lists in `key_value_stores`, every label must be
//! defined when the app loads, and `default` always is.
//!
//! A runtime config's `[key_value_store.<label>] type = "redis", url = "..."` is served as
//! Spin's key-value-redis serves it: one `ConnectionManager` (a multiplexed connection that
//! reconnects) per label for the whole app, made on first open, and a PING at each open.
//! Without a runtime config entry, `default` is an in-memory table (Spin's is a SQLite file
//! under `.spin/`: same behaviour for a component, not the same durability).

use crate::spin_imports::SpinHost;
use crate::spin_imports::key_value_v3::{self as v3, Error};
use crate::state::InstanceState;
use anyhow::{Context, Result, bail};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

pub const DEFAULT_LABEL: &str = "default";

/// The host side of a guest's `store` resource.
pub enum KvStore {
    Redis(ConnectionManager),
    Memory(Arc<Mutex<HashMap<String, Vec<u8>>>>),
}

enum Backend {
    Redis {
        url: String,
        connection: OnceCell<ConnectionManager>,
    },
    Memory(Arc<Mutex<HashMap<String, Vec<u8>>>>),
}

/// The app's key-value stores by label, and what components asked of them.
pub struct KeyValueStores {
    backends: HashMap<String, Backend>,
    /// Labels the component may open (its manifest's `key_value_stores`).
    allowed: HashSet<String>,
    pub stats: KeyValueStats,
}

/// Key-value use: `connections` counts Redis connections made (one per label for the app's
/// life), `calls` every operation on an open store.
#[derive(Debug, Default)]
pub struct KeyValueStats {
    pub connections: AtomicU64,
    pub calls: AtomicU64,
}

impl KeyValueStores {
    /// `runtime_config` is the runtime config file's text, if any.
    pub fn new(allowed: &[String], runtime_config: Option<&str>) -> Result<Self> {
        let mut backends = HashMap::new();
        if let Some(text) = runtime_config {
            backends = parse(text)?;
        }
        backends
            .entry(DEFAULT_LABEL.to_owned())
            .or_insert_with(|| Backend::Memory(Default::default()));
        for label in allowed {
            if !backends.contains_key(label) {
                // Spin's message (crates/factor-key-value/src/lib.rs, configure_app).
                bail!("unknown key_value_stores label {label:?} for the component");
            }
        }
        Ok(Self {
            backends,
            allowed: allowed.iter().cloned().collect(),
            stats: KeyValueStats::default(),
        })
    }

    pub(crate) async fn open(&self, label: &str) -> Result<KvStore, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        match self.backends.get(label) {
            None => Err(Error::NoSuchStore),
            Some(Backend::Memory(table)) => Ok(KvStore::Memory(table.clone())),
            Some(Backend::Redis { url, connection }) => {
                let connection = connection
                    .get_or_try_init(|| async {
                        self.stats.connections.fetch_add(1, Ordering::Relaxed);
                        // Unbounded waits, as Spin's redis client (0.32) has them.
                        let unbounded = redis::aio::ConnectionManagerConfig::new()
                            .set_connection_timeout(None)
                            .set_response_timeout(None);
                        redis::Client::open(url.as_str())?
                            .get_connection_manager_with_config(unbounded)
                            .await
                    })
                    .await
                    .map_err(other)?
                    .clone();
                // Spin pings at every open; a failure is left to the manager's reconnection.
                let _ = connection.clone().ping::<()>().await;
                Ok(KvStore::Redis(connection))
            }
        }
    }
}

/// `[key_value_store.<label>]` tables of a runtime config: `type = "redis"` with `url`, or
/// `type = "spin"` (SQLite in Spin; an in-memory table here).
fn parse(text: &str) -> Result<HashMap<String, Backend>> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        key_value_store: BTreeMap<String, Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: String,
        url: Option<String>,
    }
    let file: File = toml::from_str(text).context("parsing the runtime config")?;
    let mut backends = HashMap::new();
    for (label, entry) in file.key_value_store {
        let backend = match (entry.kind.as_str(), entry.url) {
            ("redis", Some(url)) => {
                redis::parse_redis_url(&url).with_context(|| format!("key_value_store.{label}: invalid Redis URL"))?;
                Backend::Redis {
                    url,
                    connection: OnceCell::new(),
                }
            }
            ("redis", None) => bail!("key_value_store.{label}: `type = \"redis\"` needs a `url`"),
            ("spin", _) => Backend::Memory(Default::default()),
            (other, _) => bail!("key_value_store.{label}: type `{other}` is not supported by this host"),
        };
        backends.insert(label, backend);
    }
    Ok(backends)
}

fn other(error: redis::RedisError) -> Error {
    Error::Other(error.to_string())
}

fn store<T>(accessor: &Accessor<T, SpinHost>, handle: &Resource<KvStore>) -> Result<KvStore, Error> {
    accessor.with(|mut access| {
        let state = access.get();
        state.app.key_value.stats.calls.fetch_add(1, Ordering::Relaxed);
        state
            .table
            .get(handle)
            .map(KvStore::share)
            .map_err(|_| Error::Other("could not find store for resource".into()))
    })
}

/// The operations, shared by `spin:key-value@3.0.0` and `fermyon:spin/key-value@2.0.0`.
impl KvStore {
    pub(crate) async fn get(self, key: String) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Self::Redis(mut connection) => connection.get(key).await.map_err(other),
            Self::Memory(table) => Ok(table.lock().expect("kv lock").get(&key).cloned()),
        }
    }

    pub(crate) async fn set(self, key: String, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Self::Redis(mut connection) => connection.set(key, value).await.map_err(other),
            Self::Memory(table) => {
                table.lock().expect("kv lock").insert(key, value);
                Ok(())
            }
        }
    }

    pub(crate) async fn delete(self, key: String) -> Result<(), Error> {
        match self {
            Self::Redis(mut connection) => connection.del(key).await.map_err(other),
            Self::Memory(table) => {
                table.lock().expect("kv lock").remove(&key);
                Ok(())
            }
        }
    }

    pub(crate) async fn exists(self, key: String) -> Result<bool, Error> {
        match self {
            Self::Redis(mut connection) => connection.exists(key).await.map_err(other),
            Self::Memory(table) => Ok(table.lock().expect("kv lock").contains_key(&key)),
        }
    }

    pub(crate) async fn keys(self) -> Result<Vec<String>, Error> {
        match self {
            Self::Redis(mut connection) => connection.keys("*").await.map_err(other),
            Self::Memory(table) => Ok(table.lock().expect("kv lock").keys().cloned().collect()),
        }
    }

    /// Another handle on the same store (the table keeps the original).
    pub(crate) fn share(&self) -> Self {
        match self {
            Self::Redis(connection) => Self::Redis(connection.clone()),
            Self::Memory(table) => Self::Memory(table.clone()),
        }
    }
}

impl v3::Host for InstanceState {}

impl v3::HostStore for InstanceState {}

impl<T> v3::HostStoreWithStore<T> for SpinHost {
    async fn drop(accessor: &Accessor<T, Self>, handle: Resource<KvStore>) -> wasmtime::Result<()> {
        accessor.with(|mut access| access.get().table.delete(handle))?;
        Ok(())
    }

    async fn open(accessor: &Accessor<T, Self>, label: String) -> Result<Resource<KvStore>, Error> {
        let app = accessor.with(|mut access| access.get().app.clone());
        let opened = app.key_value.open(&label).await?;
        accessor.with(|mut access| access.get().table.push(opened).map_err(|_| Error::StoreTableFull))
    }

    async fn get(accessor: &Accessor<T, Self>, this: Resource<KvStore>, key: String) -> Result<Option<Vec<u8>>, Error> {
        store(accessor, &this)?.get(key).await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        this: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        store(accessor, &this)?.set(key, value).await
    }

    async fn delete(accessor: &Accessor<T, Self>, this: Resource<KvStore>, key: String) -> Result<(), Error> {
        store(accessor, &this)?.delete(key).await
    }

    async fn exists(accessor: &Accessor<T, Self>, this: Resource<KvStore>, key: String) -> Result<bool, Error> {
        store(accessor, &this)?.exists(key).await
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        this: Resource<KvStore>,
    ) -> (StreamReader<String>, FutureReader<Result<(), Error>>) {
        let keys = match store(accessor, &this) {
            Ok(store) => store.keys().await,
            Err(error) => Err(error),
        };
        accessor.with(|mut access| {
            let (keys, result) = match keys {
                Ok(keys) => (keys, Ok(())),
                Err(error) => (Vec::new(), Err(error)),
            };
            // Both fail only when the store's handle table is full, which the interface has
            // no way to report here.
            let stream = StreamReader::new(&mut access, keys).expect("a stream handle");
            let done =
                FutureReader::new(&mut access, async move { wasmtime::error::Ok(result) }).expect("a future handle");
            (stream, done)
        })
    }
}
