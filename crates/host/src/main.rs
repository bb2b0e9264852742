//! `spin-host up`: runs an application's HTTP component like `spin up`, for machines without Spin.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

const USAGE: &str = "usage: spin-host up [--from spin.toml] [--listen 127.0.0.1:3000] [--variable name=value]...
                     [--runtime-config-file runtime-config.toml]

Runs the manifest's HTTP component. Variables come, as with `spin up` and in this order, from
--variable flags, the runtime config's [[variables_provider]] entries (static or env), and
SPIN_VARIABLE_<NAME> environment variables.";

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("up") => {}
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
    let mut manifest = PathBuf::from("spin.toml");
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut overrides = BTreeMap::new();
    let mut runtime_config = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--from" | "-f" => manifest = PathBuf::from(value()?),
            "--listen" => listen = value()?,
            "--runtime-config-file" => runtime_config = Some(PathBuf::from(value()?)),
            "--variable" => {
                let pair = value()?;
                let (name, v) = pair.split_once('=').context("--variable takes name=value")?;
                overrides.insert(name.to_owned(), v.to_owned());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let app = spin_host::App::load(&manifest, &overrides, runtime_config.as_deref())?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("Serving http://{}", listener.local_addr()?);
    println!(
        "Available Routes:\n  {}: http://{}{}",
        app.manifest.component_id,
        listener.local_addr()?,
        app.manifest.route
    );
    tokio::select! {
        result = spin_host::serve(app, listener) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
