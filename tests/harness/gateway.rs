//! The real gateway component, loaded through the real spin.toml into the Spin-compatible
//! host and served on a loopback port.

use spin_host::{App, LogSink};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;

pub struct Gateway {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Builds the component once per test process, with the same command `spin build` runs.
pub fn ensure_component_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(crate::workspace_root())
            .args([
                "build",
                "--target",
                "wasm32-wasip2",
                "--release",
                "-p",
                "session-gateway",
                "-p",
                "session-gateway-p2",
            ])
            .status()
            .expect("running cargo to build the component");
        assert!(status.success(), "building the gateway component failed");
    });
}

/// Which build of the gateway this test run loads: unset or `p2`, the wasi:http 0.2 build
/// (spin.toml, for released Spin); `SGW_TEST_WORLD=p3`, the wasi:http 0.3 build
/// (spin-p3.toml). `scripts/test` runs the end-to-end suite against both.
pub fn world() -> World {
    match std::env::var("SGW_TEST_WORLD").as_deref() {
        Ok("p2") | Err(_) => World::P2,
        Ok("p3") => World::P3,
        Ok(other) => panic!("SGW_TEST_WORLD must be p2 or p3, not {other}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// wasi:http 0.2 (spin-sdk 5): a fresh instance per request, synchronous Redis.
    P2,
    /// wasi:http 0.3 (spin-sdk 7): instances reused, every Redis call bounded by a timer.
    P3,
}

/// The manifest of `world`'s build.
pub fn manifest_of(world: World) -> std::path::PathBuf {
    crate::workspace_root().join(match world {
        World::P2 => "spin.toml",
        World::P3 => "spin-p3.toml",
    })
}

/// The manifest of this run's build.
pub fn manifest_path() -> std::path::PathBuf {
    manifest_of(world())
}

/// Builds the benchmark's floor component for `world` (`tests/floor`, wasi:http 0.3;
/// `tests/floor-p2`, wasi:http 0.2) and returns its manifest.
pub fn ensure_floor_built(world: World) -> std::path::PathBuf {
    let (package, dir) = match world {
        World::P2 => ("floor-p2", "tests/floor-p2"),
        World::P3 => ("floor", "tests/floor"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args(["build", "--target", "wasm32-wasip2", "--release", "-p", package])
        .status()
        .expect("running cargo to build the floor component");
    assert!(status.success(), "building the floor component ({package}) failed");
    crate::workspace_root().join(dir).join("spin.toml")
}

/// Builds the `sgw` CLI once per test process and returns its path.
pub fn ensure_cli_built() -> std::path::PathBuf {
    static BUILT: OnceLock<std::path::PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .current_dir(crate::workspace_root())
                .args(["build", "--profile", "host", "-p", "sgw"])
                .status()
                .expect("running cargo to build sgw");
            assert!(status.success(), "building sgw failed");
            crate::workspace_root().join("target/host/sgw")
        })
        .clone()
}

impl Gateway {
    /// The gateway with `variables` set as `SPIN_VARIABLE_*` (names in spin.toml's spelling).
    pub async fn start(variables: &[(&str, &str)]) -> Self {
        Self::start_from(&manifest_path(), variables).await
    }

    pub async fn start_from(manifest: &Path, variables: &[(&str, &str)]) -> Self {
        let app = Self::load(manifest, variables).expect("the application loads");
        Self::serve(app).await
    }

    /// The real spin.toml with `allowed_outbound_hosts` replaced by `hosts`, written to a
    /// temporary directory (for addresses Spin's allowed-hosts syntax cannot take from a
    /// template, and for tests of the allow-list itself).
    pub fn manifest_with_hosts(hosts: &[&str]) -> std::path::PathBuf {
        let root = crate::workspace_root();
        let list = hosts.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
        let manifest = std::fs::read_to_string(manifest_path())
            .expect("the manifest")
            .replace(
                r#"allowed_outbound_hosts = ["{{ origin_url }}", "{{ redis_address }}", "{{ redis_allowed_hosts }}"]"#,
                &format!("allowed_outbound_hosts = [{list}]"),
            )
            .replace("source = \"target/", &format!("source = \"{}/target/", root.display()));
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("random");
        let dir = std::env::temp_dir().join(format!("sgw-manifest-{}", u64::from_le_bytes(bytes)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("spin.toml"), manifest).expect("write manifest");
        dir.join("spin.toml")
    }

    /// Loads the application as `spin up` would, without serving it.
    pub fn load(manifest: &Path, variables: &[(&str, &str)]) -> anyhow::Result<Arc<App>> {
        Self::load_with_env(manifest, variables, &[])
    }

    /// Like `load`, with other environment variables for the host (such as `SPIN_HOST_REDIS_CA`).
    pub fn load_with_env(
        manifest: &Path,
        variables: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Arc<App>> {
        ensure_component_built();
        let (variables, key_value) = with_read_mode(variables);
        let mut all: HashMap<String, String> = variables
            .iter()
            .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v.to_string()))
            .collect();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let runtime_config = key_value.map(|section| temp_file("runtime-config", &section));
        App::load_full(
            manifest,
            &all,
            &BTreeMap::new(),
            runtime_config.as_deref(),
            LogSink::Capture,
        )
    }

    /// The gateway with `variables` given the way `style` says (see [`VariableStyle`]).
    pub async fn start_styled(variables: &[(&str, &str)], style: VariableStyle) -> Self {
        ensure_component_built();
        let manifest = manifest_path();
        if style == VariableStyle::Environment {
            return Self::serve(Self::load(&manifest, variables).expect("the application loads")).await;
        }
        let (variables, key_value) = with_read_mode(variables);
        let given: BTreeMap<String, String> = variables.into_iter().collect();
        let app = match style {
            VariableStyle::Environment => unreachable!("served above"),
            VariableStyle::Flags => {
                let runtime_config = key_value.map(|section| temp_file("runtime-config", &section));
                App::load_full(
                    &manifest,
                    &HashMap::new(),
                    &given,
                    runtime_config.as_deref(),
                    LogSink::Capture,
                )
            }
            VariableStyle::RuntimeConfig => {
                let mut file = runtime_config_with(&given);
                if let Some(section) = key_value {
                    let text = std::fs::read_to_string(&file).expect("runtime config") + "\n" + &section;
                    file = temp_file("runtime-config", &text);
                }
                App::load_full(
                    &manifest,
                    &HashMap::new(),
                    &BTreeMap::new(),
                    Some(&file),
                    LogSink::Capture,
                )
            }
        };
        Self::serve(app.expect("the application loads")).await
    }

    /// The gateway in the README's recommended production configuration (every variable in
    /// a runtime config's static provider) with session reads through the `default`
    /// key-value store, which the same runtime config backs with Redis at `store_url`. Always
    /// the wasi:http 0.3 build: the 0.2 one refuses key-value reads.
    pub async fn start_reading_key_value(variables: &[(&str, &str)], store_url: &str) -> Self {
        ensure_component_built();
        let given: BTreeMap<String, String> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let app = App::load_full(
            &manifest_of(World::P3),
            &HashMap::new(),
            &BTreeMap::new(),
            Some(&runtime_config_reading_key_value(&given, store_url)),
            LogSink::Capture,
        );
        Self::serve(app.expect("the application loads")).await
    }

    pub async fn serve(app: Arc<App>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let task = tokio::spawn(spin_host::serve(app.clone(), listener));
        Self { addr, app, task }
    }

    /// What the component wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.app.captured_logs()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a gateway's variables are given to Spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableStyle {
    /// `SPIN_VARIABLE_*`: Spin's environment provider, which also serves every default.
    Environment,
    /// `spin up --variable name=value` for the given ones; the rest (defaults) still go
    /// through the environment provider.
    Flags,
    /// The shipped `runtime-config.toml` (a static provider holding every variable, defaults
    /// included) with the given values filled in: no lookup reaches the environment.
    RuntimeConfig,
}

/// The shipped `runtime-config.toml`, with `values` set in it, written to a temporary file.
pub fn runtime_config_with(values: &BTreeMap<String, String>) -> std::path::PathBuf {
    let shipped =
        std::fs::read_to_string(crate::workspace_root().join("runtime-config.toml")).expect("runtime-config.toml");
    let mut doc: toml::Table = shipped.parse().expect("runtime-config.toml is TOML");
    let providers = doc["variables_provider"]
        .as_array_mut()
        .expect("[[variables_provider]]");
    let table = providers[0]["values"]
        .as_table_mut()
        .expect("a static provider's values");
    for (name, value) in values {
        table.insert(name.clone(), toml::Value::String(value.clone()));
    }
    temp_file("runtime-config", &toml::to_string(&doc).expect("TOML"))
}

/// The shipped `runtime-config.toml` with `values` and `session_reads = "key_value"` set in
/// it, and the `default` key-value store backed by Redis at `store_url`, written to a
/// temporary file: [`Gateway::start_reading_key_value`]'s configuration, for any Spin.
pub fn runtime_config_reading_key_value(values: &BTreeMap<String, String>, store_url: &str) -> std::path::PathBuf {
    let mut values = values.clone();
    values.insert("session_reads".into(), "key_value".into());
    let file = runtime_config_with(&values);
    let text = std::fs::read_to_string(&file).expect("runtime config") + "\n" + &key_value_section(store_url);
    temp_file("runtime-config", &text)
}

/// How the gateway reads sessions in this test run: `SGW_TEST_READS=key_value` runs the
/// end-to-end suite with reads through Spin's key-value store (`scripts/test` runs it both
/// ways); unset or `redis`, through outbound Redis.
pub fn key_value_reads() -> bool {
    let key_value = std::env::var("SGW_TEST_READS").is_ok_and(|v| v == "key_value");
    assert!(
        !(key_value && world() == World::P2),
        "SGW_TEST_READS=key_value needs SGW_TEST_WORLD=p3: the 0.2 build refuses key-value reads"
    );
    key_value
}

/// The runtime config section that backs the `default` key-value store with `redis_url`.
pub fn key_value_section(redis_url: &str) -> String {
    format!("[key_value_store.default]\ntype = \"redis\"\nurl = {redis_url:?}\n")
}

/// `variables` as this run's read mode wants them, and the runtime config section it needs.
/// Tests that choose `session_reads` themselves, and Cluster, Sentinel, replica and Spring
/// setups (which key-value reads refuse), are left as they are.
fn with_read_mode(variables: &[(&str, &str)]) -> (Vec<(String, String)>, Option<String>) {
    let mut owned: Vec<(String, String)> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let chosen = |name: &str| variables.iter().any(|(k, v)| *k == name && !v.is_empty());
    let topology = ["redis_cluster_nodes", "redis_sentinels", "redis_replicas"];
    // Spring sessions are hashes, which the key-value store cannot read: refused with `key_value`.
    let spring = variables.iter().any(|(k, v)| *k == "session_format" && *v == "spring");
    if !key_value_reads() || chosen("session_reads") || topology.iter().any(|t| chosen(t)) || spring {
        return (owned, None);
    }
    let redis = variables
        .iter()
        .find(|(k, _)| *k == "redis_address")
        .map_or("redis://127.0.0.1:6379", |(_, v)| v);
    owned.push(("session_reads".into(), "key_value".into()));
    (owned, Some(key_value_section(redis)))
}

/// `contents` in a new file under the temporary directory.
pub fn temp_file(stem: &str, contents: &str) -> std::path::PathBuf {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    let path = std::env::temp_dir().join(format!("sgw-{stem}-{}.toml", u64::from_le_bytes(bytes)));
    std::fs::write(&path, contents).expect("write temporary file");
    path
}
