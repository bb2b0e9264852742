//! A real `spin up` (a Spin binary given by path, not this project's host) on a free
//! loopback port, for `spin-check` and `spin-bench`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of this process's environment that never reach a `spin up`: backtraces
/// (`RUST_BACKTRACE=1` makes Spin capture one for every error it creates, which slows it),
/// and any `SPIN_VARIABLE_*` (a process gets only the variables it is given).
pub fn withheld_from_spin() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            let name = name.to_string_lossy();
            name == "RUST_BACKTRACE" || name == "RUST_LIB_BACKTRACE" || name.starts_with("SPIN_VARIABLE_")
        })
        .collect()
}

/// A `spin up` in its own process group: `spin up` runs the HTTP trigger as a child process,
/// so killing only the parent would leave the listener running. Killed when dropped.
pub struct SpinProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Its working directory and `--state-dir`: component logs, the key-value SQLite file.
    pub dir: PathBuf,
    output: PathBuf,
}

impl SpinProcess {
    /// `spin up --from manifest` with `env` as `SPIN_VARIABLE_*` (names in the manifest's
    /// spelling), in `dir`, once it listens.
    pub async fn start(spin: &Path, manifest: &Path, dir: PathBuf, env: &[(&str, &str)]) -> Result<Self, String> {
        Self::start_with(spin, manifest, dir, env, &[]).await
    }

    /// Like [`SpinProcess::start`], with more arguments for `spin up` (such as
    /// `--runtime-config-file`).
    pub async fn start_with(
        spin: &Path,
        manifest: &Path,
        dir: PathBuf,
        env: &[(&str, &str)],
        args: &[OsString],
    ) -> Result<Self, String> {
        use std::os::unix::process::CommandExt;
        let state = dir.join("state");
        std::fs::create_dir_all(&state).map_err(|e| format!("creating {}: {e}", state.display()))?;
        let output = dir.join("spin-output.txt");
        let file = std::fs::File::create(&output).map_err(|e| format!("creating {}: {e}", output.display()))?;
        let stderr = file.try_clone().map_err(|e| e.to_string())?;
        let addr: SocketAddr = ([127, 0, 0, 1], crate::free_port()).into();
        let mut command = Command::new(spin);
        for name in withheld_from_spin() {
            command.env_remove(name);
        }
        command
            .arg("up")
            .arg("--from")
            .arg(manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .current_dir(&dir)
            .envs(
                env.iter()
                    .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v)),
            )
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", spin.display()))?;
        let mut spin = Self {
            child,
            addr,
            dir,
            output,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(spin);
            }
            if let Ok(Some(status)) = spin.child.try_wait() {
                return Err(format!("spin up exited ({status}):\n{}", spin.output()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "spin up did not listen on {addr} within {} s:\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    spin.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Spin's own output and the component stdio it logged under `--state-dir`.
    pub fn output(&self) -> String {
        let mut text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.dir.join("state/logs"))
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            if let Ok(logged) = std::fs::read_to_string(&log) {
                let name = log.file_name().unwrap_or_default().to_string_lossy();
                text += &format!("--- state/logs/{name}\n{logged}");
            }
        }
        text
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        // The group is killed before the leader is reaped, so its id cannot have been reused.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// What `spin --version` prints.
pub fn version(spin: &Path) -> String {
    Command::new(spin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
