//! A real `redis-server` on a free loopback port, stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// The first extra argument is a configuration file (it must come before options).
    config_first: bool,
    /// Holds the port while the server is stopped, so no other test's server takes it
    /// (a Sentinel watching that address would turn the newcomer into its replica).
    /// It is bound but not listening, so clients still see "connection refused".
    placeholder: Option<tokio::net::TcpSocket>,
}

impl RedisServer {
    /// Starts a server without persistence. Panics with a clear message when `redis-server`
    /// is not installed: these tests never skip.
    pub fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    pub fn start_with(args: &[&str]) -> Self {
        let mut server = Self {
            port: crate::free_port(),
            child: None,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            config_first: false,
            placeholder: None,
        };
        // A free port can be taken by another test between our check and the server's bind:
        // then redis-server exits at once, and another port is tried.
        for _ in 0..5 {
            match server.spawn() {
                Ok(()) => return server,
                Err(exited) => {
                    eprintln!("{exited}; trying another port");
                    server.port = crate::free_port();
                }
            }
        }
        panic!("redis-server could not start on five free ports");
    }

    fn spawn(&mut self) -> Result<(), String> {
        self.placeholder = None;
        let mut command = Command::new("redis-server");
        if self.config_first {
            command.args(&self.extra_args);
        } else {
            command
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(&self.extra_args);
            // Its own directory, so no test ever loads another's dump.rdb (a replica's full sync
            // writes one even without `save`).
            if !self.extra_args.iter().any(|a| a == "--dir") {
                let dir = std::env::temp_dir().join(format!("sgw-redis-{}-{}", std::process::id(), self.port));
                std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
                command.arg("--dir").arg(dir);
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `redis-server` ({e}): install it (apt-get install redis-server); end-to-end tests need a real Redis")
            });
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // The server that answers must be ours: another test may hold the port.
            if let Ok(mut c) = self.connection()
                && let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut c)
                && info.lines().any(|l| l.trim() == format!("process_id:{pid}"))
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("redis-server on port {} exited at start ({status})", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer within 10 s", self.port);
    }

    /// A replica of `primary` (no persistence).
    pub fn replica_of(primary: &RedisServer) -> Self {
        let port = primary.port.to_string();
        Self::start_with(&["--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", &port])
    }

    /// A Sentinel watching `primary` as `master_name`, quorum 1, declaring it down after 1 s.
    /// Its configuration file (which Sentinel rewrites) lives in a fresh temporary directory.
    pub fn sentinel_for(primary: &RedisServer, master_name: &str) -> Self {
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("sgw-sentinel-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        let conf = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor {master_name} 127.0.0.1 {primary} 1\n\
             sentinel down-after-milliseconds {master_name} 1000\nsentinel failover-timeout {master_name} 3000\n",
            dir = dir.display(),
            primary = primary.port,
        );
        std::fs::write(&conf, text).expect("sentinel.conf");
        let conf = conf.display().to_string();
        let mut server = Self {
            port,
            child: None,
            extra_args: vec![conf, "--sentinel".into()],
            config_first: true,
            placeholder: None,
        };
        if let Err(error) = server.spawn() {
            panic!("{error}");
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Kills the server (SIGKILL); the port stays reserved for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            // Bound but not listening: clients still get "connection refused", as from a dead server.
            self.placeholder = tokio::net::TcpSocket::new_v4()
                .and_then(|socket| socket.bind(([127, 0, 0, 1], self.port).into()).map(|()| socket))
                .ok();
        }
    }

    /// Kills the server and starts it again on the same port with the same arguments.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(error) = self.spawn() {
            panic!("{error}");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!(
            "sgw-redis-{}-{}",
            std::process::id(),
            self.port
        )));
    }
}

/// A real Redis Cluster on loopback: `primaries` primaries with `replicas_each` replicas each,
/// created with `redis-cli --cluster create` (slots split evenly in node order).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    pub primaries: usize,
}

impl RedisCluster {
    pub fn start(primaries: usize, replicas_each: usize) -> Self {
        let count = primaries * (1 + replicas_each);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| {
                RedisServer::start_with(&[
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend([
            "--cluster-replicas".into(),
            replicas_each.to_string(),
            "--cluster-yes".into(),
        ]);
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli (apt-get install redis-tools)");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes, primaries };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|n| {
            n.connection()
                .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                .is_ok_and(|info| info.contains("cluster_state:ok"))
        }) {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// The primaries' URLs, in the order their slot ranges were assigned.
    pub fn primary_urls(&self) -> Vec<String> {
        self.nodes[..self.primaries].iter().map(RedisServer::url).collect()
    }
}
