//! The session store seam: records by key, and the lifecycle writes, each one round trip on
//! the common path. Redis through the platform's outbound Redis: the expected primary first;
//! Sentinel only after it fails; replicas for reads when no primary answers. With
//! `session_reads = key_value`, reads go first through Spin's key-value store (one pooled
//! connection in the host, where outbound Redis opens a new one per request); writes stay on
//! Redis, which has TTLs.

use crate::log;
use crate::platform::{Platform, RedisError, RedisParameter, RedisResult};
use futures::future::{Either, select};
use session_gateway_core::cluster::{self, Redirect};
use session_gateway_core::config::{Sentinel, SessionReads, Sessions};
use session_gateway_core::redis_layout;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::pin;
use std::rc::Rc;
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

/// A stored record and its remaining TTL in milliseconds (`-1`: no TTL; [`FROM_REPLICA`],
/// [`TTL_UNKNOWN`]: not asked for).
pub struct Stored {
    pub bytes: Vec<u8>,
    pub remaining_ms: i64,
}

/// A record kept as a Redis hash (Spring Session): its fields in Redis's order.
pub type HashFields = Vec<(Vec<u8>, Vec<u8>)>;

#[allow(async_fn_in_trait)] // single-threaded components: no Send bound wanted
pub trait SessionStore {
    /// The record under `key`, with its remaining TTL.
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError>;
    /// Overwrites the record under `key` with `bytes`, keeping its TTL, if it still holds
    /// `expected` (one round trip).
    async fn replace_if_unchanged(&self, key: &str, expected: &[u8], bytes: &[u8]) -> Result<Replaced, StoreError>;
    /// The record and its TTL from Redis itself, whatever `session_reads` says: for when a
    /// key-value read leaves a doubt.
    async fn reload(&self, key: &str) -> Result<Option<Stored>, StoreError>;
    /// The hash under `key`, always from Redis (the key-value store reads strings only). Its
    /// TTL is not asked for: a Spring session's end is inside it.
    async fn load_hash(&self, key: &str) -> Result<Option<HashFields>, StoreError>;
    /// Runs one of `redis_layout`'s scripts; returns its integer result.
    async fn script(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<i64, StoreError>;
}

/// What a compare-and-set replacement found.
pub enum Replaced {
    Done,
    /// The session is gone (logged out, expired, rotated away).
    Gone,
    /// Someone else changed the record first: this is what it holds now.
    Changed(Vec<u8>),
}

/// A read served by a replica: its TTL is not asked for, and no refresh is attempted (the
/// write would have to go to the primary, which just failed).
pub const FROM_REPLICA: i64 = i64::MAX;

/// A read through the key-value store, which has no TTLs: the record tells how long it has.
pub const TTL_UNKNOWN: i64 = i64::MIN;

/// How long an instance reads from outbound Redis alone after the key-value store failed.
const KEY_VALUE_REST: Duration = Duration::from_secs(5);

thread_local! {
    /// The key-value store, opened once per component instance: Spin answers each `open`
    /// with a PING on the pooled connection, a round trip that reuse saves. Held as `Any`
    /// since a `thread_local` cannot be generic over the platform's store type.
    static KEY_VALUE: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
    /// Until when (monotonic nanoseconds) this instance leaves the key-value store alone
    /// after it failed: a store that hangs must not add `redis_timeout_ms` to every request.
    static KEY_VALUE_RESTS_UNTIL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether this instance already said that the key-value store misses sessions that
    /// Redis holds (said once, not on every request).
    static KEY_VALUE_MISS_TOLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub struct RedisStore<'a, P: Platform> {
    platform: &'a P,
    /// Where sessions live (the topology, how reads go, the bound on each call).
    sessions: Rc<Sessions>,
    /// The primary's connection, opened on first use (Spin opens a new TCP connection per
    /// `open`, so once per request); replaced when Sentinel names another primary.
    primary: RefCell<Option<Rc<P::Connection>>>,
    /// Cluster nodes' connections, by address, opened on first use.
    nodes: RefCell<HashMap<String, Rc<P::Connection>>>,
}

impl<'a, P: Platform> RedisStore<'a, P> {
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn new(platform: &'a P, sessions: Rc<Sessions>) -> Self {
        Self {
            platform,
            sessions,
            primary: RefCell::new(None),
            nodes: RefCell::new(HashMap::new()),
        }
    }

    /// Unbounded: callers bound the whole attempt (connecting and the command) at once.
    async fn open(&self, address: &str) -> Result<P::Connection, StoreError> {
        self.platform.redis_open(address).await.map_err(classify)
    }

    async fn execute(
        &self,
        connection: &P::Connection,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, StoreError> {
        self.platform
            .redis_execute(connection, command, args)
            .await
            .map_err(classify)
    }

    async fn primary(&self) -> Result<Rc<P::Connection>, StoreError> {
        if let Some(connection) = self.primary.borrow().as_ref() {
            return Ok(connection.clone());
        }
        let connection = Rc::new(self.open(&self.sessions.redis.primary).await?);
        *self.primary.borrow_mut() = Some(connection.clone());
        Ok(connection)
    }

    async fn node(&self, address: &str) -> Result<Rc<P::Connection>, StoreError> {
        if let Some(connection) = self.nodes.borrow().get(address) {
            return Ok(connection.clone());
        }
        let connection = Rc::new(self.open(address).await?);
        self.nodes.borrow_mut().insert(address.to_owned(), connection.clone());
        Ok(connection)
    }

    /// Runs a command on the primary holding `key`. Standalone and Sentinel: the expected
    /// primary first, and Sentinel only when it fails (down, or demoted: READONLY). Cluster:
    /// the node expected to hold the key's slot first, following MOVED and ASK.
    async fn on_primary(
        &self,
        key: &str,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, StoreError> {
        if !self.sessions.redis.cluster.is_empty() {
            return self.on_cluster(key, command, args).await;
        }
        let first = self
            .within(async { self.execute(&*self.primary().await?, command, args.clone()).await })
            .await;
        let (Err(StoreError::Unavailable(reason)), Some(sentinel)) = (&first, &self.sessions.redis.sentinel) else {
            return first;
        };
        let address = self
            .discover(sentinel)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{reason}; {e}")))?;
        if address == self.sessions.redis.primary {
            return first;
        }
        log::info(
            self.platform,
            format_args!("primary unavailable ({reason}); Sentinel names another, retrying there"),
        );
        self.within(async {
            let connection = Rc::new(self.open(&address).await?);
            *self.primary.borrow_mut() = Some(connection.clone());
            self.execute(&connection, command, args).await
        })
        .await
    }

    /// Cluster routing without a remembered slot map (nothing of Redis is kept between requests): go to
    /// the node the slot is expected on, follow redirections, and when a node does not answer
    /// ask the next one, which redirects to the slot's owner.
    async fn on_cluster(
        &self,
        key: &str,
        command: &str,
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, StoreError> {
        let nodes = &self.sessions.redis.cluster;
        let first = cluster::expected_node(cluster::slot(key.as_bytes()), nodes.len());
        let (mut target, mut asking, mut skipped) = (nodes[first].clone(), false, 0);
        let mut last = String::new();
        for _ in 0..nodes.len() + 4 {
            let result = self
                .within(async {
                    let connection = self.node(&target).await?;
                    if asking {
                        self.execute(&connection, "ASKING", Vec::new()).await?;
                    }
                    self.execute(&connection, command, args.clone()).await
                })
                .await;
            asking = false;
            let Err(StoreError::Unavailable(message)) = result else {
                return result;
            };
            // A multi-key script on a slot that is migrating, with some keys moved: only the end
            // of the migration helps, so fail closed now (503) rather than walk the cluster.
            if message.to_ascii_uppercase().contains("TRYAGAIN") {
                return Err(StoreError::Unavailable(message));
            }
            let redirect = cluster::redirect(&message);
            last = message.clone();
            match redirect {
                Some(Redirect::Moved(addr)) => target = self.redirected(&addr)?,
                Some(Redirect::Ask(addr)) => (target, asking) = (self.redirected(&addr)?, true),
                None => {
                    skipped += 1;
                    if skipped >= nodes.len() {
                        return Err(StoreError::Unavailable(message));
                    }
                    target = nodes[(first + skipped) % nodes.len()].clone();
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "too many cluster redirections (last: {last})"
        )))
    }

    fn redirected(&self, addr: &str) -> Result<String, StoreError> {
        self.sessions
            .redis
            .node_at(addr)
            .ok_or_else(|| StoreError::Unavailable(format!("unusable redirection to {addr}")))
    }

    /// The current primary's address, from the first Sentinel that answers.
    async fn discover(&self, sentinel: &Sentinel) -> Result<String, StoreError> {
        let mut last = String::from("no sentinel answered");
        for address in &sentinel.addresses {
            let asked = self.within(async {
                let connection = self.open(address).await?;
                let args = vec![
                    binary(b"get-master-addr-by-name"),
                    binary(sentinel.master_name.as_bytes()),
                ];
                self.execute(&connection, "SENTINEL", args).await
            });
            match asked.await {
                Ok(reply) => match reply.as_slice() {
                    [RedisResult::Binary(host), RedisResult::Binary(port)] => {
                        let (host, port) = (String::from_utf8_lossy(host), String::from_utf8_lossy(port));
                        return self
                            .sessions
                            .redis
                            .primary_at(&host, &port)
                            .ok_or_else(|| StoreError::Unavailable("Sentinel named an unusable address".into()));
                    }
                    _ => last = format!("Sentinel does not know master `{}`", sentinel.master_name),
                },
                Err(error) => last = format!("sentinel {error}"),
            }
        }
        Err(StoreError::Unavailable(last))
    }

    /// The record and its TTL from Redis, a replica when no primary answers.
    async fn lookup(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let args = vec![
            binary(redis_layout::LOOKUP.as_bytes()),
            RedisParameter::Int64(1),
            binary(key.as_bytes()),
        ];
        match self.on_primary(key, "EVAL", args).await {
            Ok(reply) => match reply.as_slice() {
                [RedisResult::Binary(bytes), RedisResult::Int64(remaining_ms)] => Ok(Some(Stored {
                    bytes: bytes.clone(),
                    remaining_ms: *remaining_ms,
                })),
                [RedisResult::Nil, ..] | [] => Ok(None),
                other => Err(StoreError::Corrupt(format!(
                    "unexpected reply shape ({} values)",
                    other.len()
                ))),
            },
            Err(StoreError::Unavailable(reason)) => match self.read_replica(key).await {
                Some(read) => {
                    log::info(
                        self.platform,
                        format_args!("primary unavailable ({reason}); read from a replica"),
                    );
                    read
                }
                None => Err(StoreError::Unavailable(reason)),
            },
            Err(corrupt) => Err(corrupt),
        }
    }

    /// A record read through the key-value store, bounded like any Redis attempt. `None`
    /// when it has no such key or fails: the caller asks Redis itself.
    async fn read_key_value(&self, key: &str) -> Option<Vec<u8>> {
        if self.platform.monotonic_ns() < KEY_VALUE_RESTS_UNTIL.get() {
            return None;
        }
        let read = self.within(async {
            let kept = KEY_VALUE
                .with_borrow(Clone::clone)
                .and_then(|kept| kept.downcast().ok());
            let store: Rc<P::KeyValueStore> = match kept {
                Some(store) => store,
                None => {
                    let store = Rc::new(
                        self.platform
                            .key_value_open(SessionReads::KEY_VALUE_LABEL)
                            .await
                            .map_err(|e| StoreError::Unavailable(format!("key-value store: {e}")))?,
                    );
                    KEY_VALUE.with_borrow_mut(|slot| *slot = Some(store.clone() as Rc<dyn Any>));
                    store
                }
            };
            self.platform
                .key_value_get(&store, key)
                .await
                .map_err(|e| StoreError::Unavailable(format!("key-value store: {e}")))
        });
        match read.await {
            Ok(found) => found,
            Err(error) => {
                // A broken handle is opened again, after a rest.
                KEY_VALUE.with_borrow_mut(|slot| *slot = None);
                KEY_VALUE_RESTS_UNTIL.set(
                    self.platform
                        .monotonic_ns()
                        .saturating_add(KEY_VALUE_REST.as_nanos() as u64),
                );
                log::error(
                    self.platform,
                    format_args!("session read through the key-value store failed ({error}); reading from Redis"),
                );
                None
            }
        }
    }

    /// A record read from the first replica that answers (plain GET: works on any version).
    async fn read_replica(&self, key: &str) -> Option<Result<Option<Stored>, StoreError>> {
        for address in &self.sessions.redis.replicas {
            let read = self.within(async {
                let connection = self.open(address).await?;
                self.platform.redis_get(&connection, key).await.map_err(classify)
            });
            match read.await {
                Ok(bytes) => {
                    return Some(Ok(bytes.map(|bytes| Stored {
                        bytes,
                        remaining_ms: FROM_REPLICA,
                    })));
                }
                Err(StoreError::Corrupt(reason)) => return Some(Err(StoreError::Corrupt(reason))),
                Err(StoreError::Unavailable(_)) => continue,
            }
        }
        None
    }

    /// A Redis that accepts and never answers must not hang the request: every attempt
    /// (connecting when needed, then the command) races one timer of the platform's, and
    /// losing the race is an outage (fail closed). One timer per attempt, not one per await:
    /// each timer is a host subtask, and under Spin main one per request instead of two took
    /// an authenticated request from 0.82–0.94x to 0.91–1.09x the floor's throughput.
    async fn within<T>(&self, attempt: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let timer = self
            .platform
            .wait_for(self.sessions.redis_timeout.as_nanos().min(u64::MAX as u128) as u64);
        match select(pin!(attempt), pin!(timer)).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                self.sessions.redis_timeout.as_millis()
            ))),
        }
    }
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

impl<P: Platform> SessionStore for RedisStore<'_, P> {
    async fn load(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        if self.sessions.reads == SessionReads::KeyValue {
            if let Some(bytes) = self.read_key_value(key).await {
                return Ok(Some(Stored {
                    bytes,
                    remaining_ms: TTL_UNKNOWN,
                }));
            }
            // A miss is an ended session or a store that does not see Redis's sessions:
            // Redis decides, so a misconfigured store costs speed, never a refusal.
            let found = self.lookup(key).await;
            if let Ok(Some(_)) = &found
                && !KEY_VALUE_MISS_TOLD.replace(true)
            {
                log::error(
                    self.platform,
                    format_args!(
                        "the key-value store `{}` missed a session that Redis holds: is it backed by the same Redis \
                         (runtime config `[key_value_store.{}] type = \"redis\"`)? Reads fall back to outbound Redis",
                        SessionReads::KEY_VALUE_LABEL,
                        SessionReads::KEY_VALUE_LABEL
                    ),
                );
            }
            return found;
        }
        self.lookup(key).await
    }

    async fn reload(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        self.lookup(key).await
    }

    async fn load_hash(&self, key: &str) -> Result<Option<HashFields>, StoreError> {
        let hgetall = || vec![binary(key.as_bytes())];
        let reply = match self.on_primary(key, "HGETALL", hgetall()).await {
            Err(StoreError::Unavailable(reason)) => {
                let mut read = Err(StoreError::Unavailable(reason.clone()));
                for address in &self.sessions.redis.replicas {
                    read = self
                        .within(async { self.execute(&self.open(address).await?, "HGETALL", hgetall()).await })
                        .await;
                    if !matches!(read, Err(StoreError::Unavailable(_))) {
                        log::info(
                            self.platform,
                            format_args!("primary unavailable ({reason}); read from a replica"),
                        );
                        break;
                    }
                }
                read?
            }
            other => other?,
        };
        // HGETALL answers an empty list for a missing key.
        if reply.is_empty() {
            return Ok(None);
        }
        hash_fields(&reply).map(Some)
    }

    async fn replace_if_unchanged(&self, key: &str, expected: &[u8], bytes: &[u8]) -> Result<Replaced, StoreError> {
        let args = vec![
            binary(redis_layout::UPDATE.as_bytes()),
            RedisParameter::Int64(1),
            binary(key.as_bytes()),
            binary(expected),
            binary(bytes),
        ];
        match self.on_primary(key, "EVAL", args).await?.as_slice() {
            [RedisResult::Int64(1)] => Ok(Replaced::Done),
            [RedisResult::Int64(0)] | [RedisResult::Nil] | [] => Ok(Replaced::Gone),
            [RedisResult::Binary(current)] => Ok(Replaced::Changed(current.clone())),
            _ => Err(StoreError::Corrupt(
                "the update script answered with an unexpected reply".into(),
            )),
        }
    }

    async fn script(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Result<i64, StoreError> {
        let mut params = vec![binary(script.as_bytes()), RedisParameter::Int64(keys.len() as i64)];
        params.extend(keys.iter().map(|k| binary(k.as_bytes())));
        params.extend(args.iter().map(|a| binary(a)));
        // Every key of a lifecycle script shares the user's hash tag, so the first one routes.
        match self
            .on_primary(keys.first().copied().unwrap_or(""), "EVAL", params)
            .await?
            .as_slice()
        {
            [RedisResult::Int64(n)] => Ok(*n),
            _ => Err(StoreError::Corrupt(
                "a script answered with something other than an integer".into(),
            )),
        }
    }
}

/// HGETALL's flat reply as (field, value) pairs.
fn hash_fields(reply: &[RedisResult]) -> Result<HashFields, StoreError> {
    let pairs = reply.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(StoreError::Corrupt("a hash reply with an odd number of values".into()));
    }
    pairs
        .map(|pair| match pair {
            [RedisResult::Binary(field), RedisResult::Binary(value)] => Ok((field.clone(), value.clone())),
            _ => Err(StoreError::Corrupt("a hash field that is not a string".into())),
        })
        .collect()
}

/// Wrong-type errors mean a bad record, not an outage.
fn classify(error: RedisError) -> StoreError {
    match error {
        RedisError::TypeError => StoreError::Corrupt("the key is not a string".into()),
        RedisError::Other(message) if message.to_ascii_uppercase().contains("WRONGTYPE") => {
            StoreError::Corrupt("the key is not a string".into())
        }
        // A demoted primary refuses writes: for the gateway that is an unavailable primary.
        RedisError::Other(message) if message.to_ascii_uppercase().contains("READONLY") => {
            StoreError::Unavailable(message)
        }
        RedisError::InvalidAddress => StoreError::Unavailable("invalid or disallowed address".into()),
        RedisError::TooManyConnections => StoreError::Unavailable("too many connections".into()),
        RedisError::Other(message) => StoreError::Unavailable(message),
    }
}
