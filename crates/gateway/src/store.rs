//! The session store seam: bytes in, bytes out, by key. Redis through Spin today; Spin's
//! key-value interface (one pooled connection) is the next candidate for reads.

use spin_sdk::redis::{Connection, Error};

#[derive(Debug)]
pub enum LoadError {
    /// The store cannot answer now: fail closed.
    Unavailable(String),
    /// The key holds something that is not a session (wrong Redis type).
    Corrupt(String),
}

pub trait SessionStore {
    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, LoadError>;
}

pub struct RedisStore<'a> {
    address: &'a str,
}

impl<'a> RedisStore<'a> {
    pub fn new(address: &'a str) -> Self {
        Self { address }
    }
}

impl SessionStore for RedisStore<'_> {
    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, LoadError> {
        // Spin opens a new connection per `open`: one open and one GET per request.
        let connection = Connection::open(self.address).await.map_err(unavailable)?;
        connection.get(key).await.map_err(|error| match error {
            Error::TypeError => LoadError::Corrupt("the key is not a string".into()),
            Error::Other(message) if message.contains("WRONGTYPE") => {
                LoadError::Corrupt("the key is not a string".into())
            }
            other => unavailable(other),
        })
    }
}

fn unavailable(error: Error) -> LoadError {
    LoadError::Unavailable(match error {
        Error::InvalidAddress => "invalid or disallowed address".into(),
        Error::TooManyConnections => "too many connections".into(),
        Error::TypeError => "type error".into(),
        Error::Other(message) => message,
    })
}
