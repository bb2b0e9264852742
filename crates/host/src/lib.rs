//! A small Spin-compatible host for session-gateway: it loads the real `spin.toml` and the
//! real `.wasm`, and serves the component over HTTP the way `spin up` does, giving it
//! `wasi:http` (p3), `spin:redis@3.0.0`, `spin:variables@3.0.0` and `spin:key-value@3.0.0`.
//!
//! It is a test instrument and a local runner, not a fork of Spin: one HTTP trigger, one
//! component, environment variables as the only variables provider. The README lists where
//! it differs from `spin up`.

pub mod allowed_hosts;
pub mod key_value;
pub mod manifest;
mod outbound_http;
mod redis;
mod server;
mod spin_imports;
mod spin_v2;
mod state;
pub mod variables;
mod variables_host;

pub use allowed_hosts::AllowedHosts;
pub use manifest::Manifest;
pub use server::serve;

use anyhow::{Context, Result};
use spin_imports::SpinHost;
use state::InstanceState;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::handler::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// Where the component's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// This process's stdout and stderr, as with `spin up`.
    Inherit,
    /// A buffer, read back with [`App::captured_logs`] (for tests).
    Capture,
}

/// At most this much component output is kept when capturing.
const CAPTURE_BYTES: usize = 4 << 20;

/// A loaded application: its manifest, resolved variables and pre-linked component.
pub struct App {
    pub manifest: Manifest,
    /// The component's variables, resolved through Spin's providers at each lookup.
    pub variables: variables::Variables,
    pub allowed_hosts: AllowedHosts,
    engine: Engine,
    /// The component's world: wasi:http 0.3 (`handler`) or 0.2 (`incoming-handler`).
    pre: ProxyPre<InstanceState>,
    /// Component instances made so far (Spin reuses each for many requests).
    pub instances: std::sync::atomic::AtomicU64,
    captured: Option<MemoryOutputPipe>,
    /// A CA (PEM) to trust for `rediss://` instead of the system's roots, from
    /// `SPIN_HOST_REDIS_CA=<file>` (a knob of this host, for self-signed test servers).
    pub redis_ca: Option<Vec<u8>>,
    /// What components of this app asked of Redis, for benchmarks and tests.
    pub redis_stats: RedisStats,
    /// The app's key-value stores (`spin:key-value`), by label.
    pub key_value: key_value::KeyValueStores,
}

/// Counts of `spin:redis` use: each `open` is a new TCP connection, each call a round trip.
#[derive(Debug, Default)]
pub struct RedisStats {
    pub opens: AtomicU64,
    pub calls: AtomicU64,
}

impl RedisStats {
    /// (opens, calls) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (self.opens.load(Ordering::Relaxed), self.calls.load(Ordering::Relaxed))
    }
}

impl App {
    /// Loads `manifest_path` with variables from this process's environment.
    pub fn load(
        manifest_path: &Path,
        overrides: &BTreeMap<String, String>,
        runtime_config: Option<&Path>,
    ) -> Result<Arc<Self>> {
        Self::load_full(
            manifest_path,
            &std::env::vars().collect(),
            overrides,
            runtime_config,
            LogSink::Inherit,
        )
    }

    /// Loads `manifest_path` with variables from `env` (`SPIN_VARIABLE_*`) and `overrides`.
    pub fn load_with(
        manifest_path: &Path,
        env: &HashMap<String, String>,
        overrides: &BTreeMap<String, String>,
        logs: LogSink,
    ) -> Result<Arc<Self>> {
        Self::load_full(manifest_path, env, overrides, None, logs)
    }

    /// Like [`App::load_with`], with a runtime config file (`--runtime-config-file`) whose
    /// variables providers come between `overrides` and the environment, as in Spin.
    pub fn load_full(
        manifest_path: &Path,
        env: &HashMap<String, String>,
        overrides: &BTreeMap<String, String>,
        runtime_config: Option<&Path>,
        logs: LogSink,
    ) -> Result<Arc<Self>> {
        let manifest = Manifest::load(manifest_path)?;
        let shared_env = Arc::new(env.clone());
        let runtime_config_text = match runtime_config {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
            None => None,
        };
        let from_runtime_config = match (&runtime_config_text, runtime_config) {
            (Some(text), Some(path)) => variables::runtime_config_providers(text, &shared_env)
                .with_context(|| format!("in {}", path.display()))?,
            _ => Vec::new(),
        };
        let key_value = key_value::KeyValueStores::new(&manifest.key_value_stores, runtime_config_text.as_deref())
            .with_context(|| {
                format!(
                    "in {}",
                    runtime_config.map_or("the runtime config".into(), |p| p.display().to_string())
                )
            })?;
        let variables = variables::Variables::new(
            &manifest,
            variables::providers(overrides, from_runtime_config, shared_env),
        )?;
        let hosts = manifest
            .allowed_outbound_hosts
            .iter()
            .map(|t| variables.expand_now(t))
            .collect::<Result<Vec<_>>>()?;
        let allowed_hosts = AllowedHosts::parse(&hosts)?;
        let engine = engine().clone();
        let component = compiled(&engine, &manifest.source)?;
        let mut linker = Linker::<InstanceState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        spin_imports::redis_v3::add_to_linker::<_, SpinHost>(&mut linker, |s| s)?;
        spin_imports::variables_v3::add_to_linker::<_, SpinHost>(&mut linker, |s| s)?;
        spin_imports::key_value_v3::add_to_linker::<_, SpinHost>(&mut linker, |s| s)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        spin_v2::add_to_linker(&mut linker)?;
        // As Spin's `HandlerType::from_instance_pre`: a component exporting wasi:http 0.2's
        // `incoming-handler` is served as one, otherwise as a 0.3 `handler`.
        let instance_pre = linker.instantiate_pre(&component)?;
        let pre = match wasmtime_wasi_http::p2::bindings::ProxyPre::new(instance_pre.clone()) {
            Ok(p2) => ProxyPre::P2(p2),
            Err(_) => ProxyPre::P3(ServicePre::new(instance_pre)?),
        };
        let captured = (logs == LogSink::Capture).then(|| MemoryOutputPipe::new(CAPTURE_BYTES));
        let redis_ca = match env.get("SPIN_HOST_REDIS_CA") {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("reading SPIN_HOST_REDIS_CA {path}"))?),
            None => None,
        };
        Ok(Arc::new(Self {
            manifest,
            variables,
            allowed_hosts,
            engine,
            pre,
            instances: Default::default(),
            captured,
            redis_ca,
            redis_stats: RedisStats::default(),
            key_value,
        }))
    }

    /// Whether the component is a wasi:http 0.2 one (one instance per request, as Spin runs them).
    pub fn is_wasi_http_0_2(&self) -> bool {
        matches!(self.pre, ProxyPre::P2(_))
    }

    /// The component's output so far, when loaded with [`LogSink::Capture`].
    pub fn captured_logs(&self) -> String {
        self.captured
            .as_ref()
            .map(|p| String::from_utf8_lossy(&p.contents()).into_owned())
            .unwrap_or_default()
    }

    fn wasi_ctx(&self) -> wasmtime_wasi::WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        match &self.captured {
            Some(pipe) => builder.stdout(pipe.clone()).stderr(pipe.clone()),
            None => builder.inherit_stdout().inherit_stderr(),
        };
        builder.build()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        // Spin allocates instances from a pool: making a new instance stays cheap.
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(PoolingAllocationConfig::default()));
        // `perf` then names the component's own functions (Spin has no such switch).
        if std::env::var_os("SPIN_HOST_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        Engine::new(&config).expect("the engine configuration is valid")
    })
}

/// Compiles each `.wasm` once per process (tests start many apps from the same component),
/// again only when the file changes.
fn compiled(engine: &Engine, path: &PathBuf) -> Result<Component> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (SystemTime, Component)>>> = OnceLock::new();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).with_context(|| {
        format!(
            "component {} not found: build it with `cargo build --target wasm32-wasip2 --release` (or `spin build`)",
            path.display()
        )
    })?;
    let mut cache = CACHE.get_or_init(Default::default).lock().expect("cache lock");
    if let Some((at, component)) = cache.get(path)
        && *at == modified
    {
        return Ok(component.clone());
    }
    let component = Component::from_file(engine, path)
        .map_err(|e| anyhow::Error::from(e).context(format!("compiling {}", path.display())))?;
    cache.insert(path.clone(), (modified, component.clone()));
    Ok(component)
}
