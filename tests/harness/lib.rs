//! Real services for end-to-end tests and the benchmark: a `redis-server` process, an origin
//! HTTP server that records what reaches it, the gateway component in the Spin-compatible
//! host or under a real `spin up`, a plain HTTP/1.1 client over TCP, and the benchmarks' load.
//! Nothing here is a mock.

pub mod client;
pub mod framework_app;
pub mod gateway;
pub mod load;
pub mod origin;
pub mod redis_server;
pub mod sessions;
pub mod spin;
pub mod spring_sessions;
pub mod stack;
pub mod steady_origin;

pub use client::{Reply, send};
pub use framework_app::FrameworkApp;
pub use gateway::{Gateway, VariableStyle};
pub use origin::Origin;
pub use redis_server::{RedisCluster, RedisServer};
pub use spin::SpinProcess;
pub use stack::Stack;
pub use steady_origin::SteadyOrigin;

/// A free loopback port (bound, then released for the service to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The workspace root (where spin.toml lives).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}
