//! Unit tests of the Spin-compatible host's manifest, variables and allowed-hosts rules.

use spin_host::allowed_hosts::AllowedHosts;
use spin_host::manifest::Manifest;
use spin_host::variables::{Variables, is_valid_name, providers, runtime_config_providers};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

fn hosts(entries: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn allowed_hosts_match_as_spin_matches() {
    let allowed = hosts(&[
        "http://127.0.0.1:8080",
        "redis://cache.internal",
        "https://*.example.com",
        "*://any.host:*",
        "http://ports:8000..8002",
    ]);
    assert!(allowed.allows("http", "127.0.0.1", Some(8080)));
    assert!(!allowed.allows("http", "127.0.0.1", Some(8081)));
    assert!(!allowed.allows("https", "127.0.0.1", Some(8080)));
    assert!(
        allowed.allows("redis", "cache.internal", None),
        "redis defaults to 6379"
    );
    assert!(allowed.allows("redis", "cache.internal", Some(6379)));
    assert!(!allowed.allows("redis", "cache.internal", Some(6380)));
    assert!(allowed.allows("https", "api.example.com", None));
    assert!(!allowed.allows("https", "example.com", None));
    assert!(allowed.allows("ftp", "any.host", Some(21)));
    assert!(allowed.allows("http", "ports", Some(8001)));
    assert!(
        !allowed.allows("http", "ports", Some(8002)),
        "ranges are half-open, as in Spin"
    );
    assert!(allowed.allows_url("redis://user:pw@cache.internal:6379/0"));
    assert!(!allowed.allows_url("redis://elsewhere:6379"));
    assert!(!AllowedHosts::default().allows_url("http://127.0.0.1:1"));
}

#[test]
fn allowed_host_entries_are_validated_as_spin_does() {
    for bad in [
        "127.0.0.1:80",
        "http://host:80/path",
        "ftp://host",
        "http://a*b.com",
        "ht-tp://x",
    ] {
        assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
    }
    assert!(
        AllowedHosts::parse(&["http://host:80/".to_string()]).is_ok(),
        "a trailing slash is fine"
    );
}

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
origin = { default = "http://o:1" }
secret = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["{{ origin }}"]
[component.c.variables]
url = "{{ origin }}/x"
key = "{{secret}}"
"#;

fn variables(env: &[(&str, &str)], cli: &[(&str, &str)], runtime_config: &str) -> anyhow::Result<Variables> {
    let manifest = Manifest::parse(MANIFEST, Path::new("/app")).unwrap();
    let env: Arc<HashMap<String, String>> = Arc::new(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let cli: BTreeMap<String, String> = cli.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let from_file = runtime_config_providers(runtime_config, &env)?;
    Variables::new(&manifest, providers(&cli, from_file, env))
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_resolve_through_spins_providers_in_spins_order() {
    let manifest = Manifest::parse(MANIFEST, Path::new("/app")).unwrap();
    assert_eq!(manifest.source, Path::new("/app/c.wasm"));
    assert_eq!(manifest.route, "/...");

    let vars = variables(&[("SPIN_VARIABLE_SECRET", "s3")], &[], "").unwrap();
    assert_eq!(
        vars.get("url").await.unwrap().as_deref(),
        Some("http://o:1/x"),
        "the default"
    );
    assert_eq!(vars.get("key").await.unwrap().as_deref(), Some("s3"), "the environment");
    assert_eq!(vars.get("nope").await.unwrap(), None, "not a component variable");
    assert_eq!(
        vars.stats.snapshot(),
        (2, 2),
        "each lookup reached the environment provider, the default one too"
    );
    assert_eq!(vars.expand_now("{{ origin }}").unwrap(), "http://o:1");

    let file = r#"
[[variables_provider]]
type = "static"
values = { origin = "http://rc:3", secret = "from-file" }
"#;
    let vars = variables(
        &[("SPIN_VARIABLE_SECRET", "s3"), ("SPIN_VARIABLE_ORIGIN", "http://env:4")],
        &[("origin", "http://cli:2")],
        file,
    )
    .unwrap();
    assert_eq!(
        vars.get("url").await.unwrap().as_deref(),
        Some("http://cli:2/x"),
        "--variable first"
    );
    assert_eq!(
        vars.get("key").await.unwrap().as_deref(),
        Some("from-file"),
        "then the runtime config"
    );
    assert_eq!(vars.stats.snapshot(), (2, 0), "no lookup reached the environment");

    let prefixed = "[[config_provider]]\ntype = \"env\"\nprefix = \"APP\"\n";
    let vars = variables(&[("APP_SECRET", "a")], &[], prefixed).unwrap();
    assert_eq!(vars.get("key").await.unwrap().as_deref(), Some("a"));

    let missing = variables(&[], &[], "").unwrap_err();
    assert!(missing.to_string().contains("SPIN_VARIABLE_SECRET"), "{missing}");
    assert!(variables(&[], &[], "[[variables_provider]]\ntype = \"vault\"\n").is_err());
    for good in ["a", "origin_url", "a1_b2"] {
        assert!(is_valid_name(good), "{good}");
    }
    for bad in ["", "A", "1a", "a__b", "a_", "a-b", "_a"] {
        assert!(!is_valid_name(bad), "{bad}");
    }
    let unknown = MANIFEST.replace("\"{{secret}}\"", "\"{{ nope }}\"");
    let manifest = Manifest::parse(&unknown, Path::new("/app")).unwrap();
    assert!(
        Variables::new(&manifest, Vec::new()).is_err(),
        "a template naming an unknown variable"
    );
}

#[test]
fn manifests_this_host_cannot_run_are_refused() {
    assert!(Manifest::parse(&MANIFEST.replace("= 2", "= 1"), Path::new(".")).is_err());
    assert!(
        Manifest::parse(
            &MANIFEST.replace("component = \"c\"", "component = \"d\""),
            Path::new(".")
        )
        .is_err()
    );
    let two = format!("{MANIFEST}\n[[trigger.http]]\nroute = \"/b\"\ncomponent = \"c\"\n");
    assert!(Manifest::parse(&two, Path::new(".")).is_err());
}

#[test]
fn the_shipped_runtime_config_holds_every_variable_with_its_default() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = Manifest::load(&root.join("spin.toml")).unwrap();
    let text = std::fs::read_to_string(root.join("runtime-config.toml")).unwrap();
    let env = Arc::new(HashMap::new());
    let providers = runtime_config_providers(&text, &env).unwrap();
    let [spin_host::variables::Provider::Static(values)] = providers.as_slice() else {
        panic!("one static provider: {providers:?}");
    };
    for (name, decl) in &manifest.variables {
        match &decl.default {
            Some(default) => assert_eq!(values.get(name), Some(default), "{name}"),
            None => assert!(!values.contains_key(name), "{name} has no stand-in: it must be set"),
        }
    }
    assert_eq!(
        values.len(),
        manifest.variables.values().filter(|d| d.default.is_some()).count()
    );
}

#[test]
fn key_value_labels_must_be_defined_as_spin_requires() {
    use spin_host::key_value::KeyValueStores;
    let redis = "[key_value_store.sessions]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n";
    assert!(
        KeyValueStores::new(&["default".into()], None).is_ok(),
        "`default` is always defined"
    );
    assert!(KeyValueStores::new(&["sessions".into()], Some(redis)).is_ok());
    let undefined = KeyValueStores::new(&["sessions".into()], None)
        .err()
        .expect("undefined label");
    assert!(
        undefined.to_string().contains("unknown key_value_stores label"),
        "{undefined}"
    );
    for bad in [
        "[key_value_store.default]\ntype = \"redis\"\n",
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"not a url\"\n",
        "[key_value_store.default]\ntype = \"azure_cosmos\"\n",
    ] {
        assert!(KeyValueStores::new(&["default".into()], Some(bad)).is_err(), "{bad}");
    }
    let manifest = Manifest::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("spin.toml"),
    )
    .unwrap();
    assert_eq!(
        manifest.key_value_stores,
        ["default"],
        "the gateway may open `default` only"
    );
}
