//! Unit tests of the Spin-compatible host's manifest, variables and allowed-hosts rules.

use spin_host::allowed_hosts::AllowedHosts;
use spin_host::manifest::Manifest;
use spin_host::variables::{expand, is_valid_name, resolve_application, resolve_component};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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

#[test]
fn variables_follow_spins_rules() {
    let manifest = Manifest::parse(MANIFEST, Path::new("/app")).unwrap();
    assert_eq!(manifest.source, Path::new("/app/c.wasm"));
    assert_eq!(manifest.route, "/...");
    let env: HashMap<String, String> = [("SPIN_VARIABLE_SECRET".to_string(), "s3".to_string())].into();
    let app = resolve_application(&manifest, &env, &BTreeMap::new()).unwrap();
    let component = resolve_component(&manifest, &app).unwrap();
    assert_eq!(component["url"], "http://o:1/x");
    assert_eq!(component["key"], "s3");
    let overrides: BTreeMap<String, String> = [("origin".to_string(), "http://p:2".to_string())].into();
    let app = resolve_application(&manifest, &env, &overrides).unwrap();
    assert_eq!(app["origin"], "http://p:2");

    let missing = resolve_application(&manifest, &HashMap::new(), &BTreeMap::new()).unwrap_err();
    assert!(missing.to_string().contains("SPIN_VARIABLE_SECRET"), "{missing}");
    assert!(expand("{{ nope }}", &app).is_err());
    assert!(expand("{{ origin", &app).is_err());
    for good in ["a", "origin_url", "a1_b2"] {
        assert!(is_valid_name(good), "{good}");
    }
    for bad in ["", "A", "1a", "a__b", "a_", "a-b", "_a"] {
        assert!(!is_valid_name(bad), "{bad}");
    }
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
