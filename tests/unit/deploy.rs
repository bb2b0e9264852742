//! The Kubernetes manifests in `deploy/kubernetes/`, checked from a plain clone (no cluster):
//!
//! - the SpinApp against the SpinApp CRD's schema as spin-operator publishes it
//!   (`tests/deploy/spinapp-crd.schema.json`: the CRD's `openAPIV3Schema` without its
//!   descriptions): every field known, of its type, within its enum, format, bounds and
//!   pattern, required ones present, unknown ones refused (as the API server's strict field
//!   validation does);
//! - the HorizontalPodAutoscaler against what autoscaling/v2 requires, aimed at the
//!   Deployment spin-operator makes for the SpinApp, which must let an autoscaler own it;
//! - that every variable spin.toml declares is set or defaulted, that the signing keys come
//!   from a Secret and nowhere else, and that every other value sits in the runtime config's
//!   static provider (the cheap one under Spin), not in SPIN_VARIABLE_* of the pod.

use serde_json::{Map, Value, json};
use spin_host::Manifest;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    session_gateway_tests::workspace_root()
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn crd() -> Value {
    let text = std::fs::read_to_string(root().join("tests/deploy/spinapp-crd.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every way `value` breaks `schema` (a structural OpenAPI v3 schema, as CRDs have), by path.
fn violations(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    let int_or_string = schema["x-kubernetes-int-or-string"] == json!(true);
    if let Some(options) = schema["anyOf"].as_array()
        && !int_or_string
        && !options.iter().any(|o| {
            let mut found = Vec::new();
            violations(value, o, path, &mut found);
            found.is_empty()
        })
    {
        out.push(format!("{path}: matches none of anyOf"));
    }
    let kind = schema["type"].as_str();
    let type_ok = match (kind, value) {
        _ if int_or_string => value.is_string() || value.is_i64() || value.is_u64(),
        (None, _) => true,
        (Some("object"), Value::Object(_)) | (Some("array"), Value::Array(_)) => true,
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        _ => false,
    };
    if !type_ok {
        out.push(format!(
            "{path}: expected {}, found {value}",
            kind.unwrap_or("int-or-string")
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let (Some("int32"), Some(n)) = (schema["format"].as_str(), value.as_i64())
        && i32::try_from(n).is_err()
    {
        out.push(format!("{path}: {n} is out of int32 range"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_i64(), value.as_i64())
        && n < min
    {
        out.push(format!("{path}: {n} is below {min}"));
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|m| len < m)
            || schema["maxLength"].as_u64().is_some_and(|m| len > m)
        {
            out.push(format!("{path}: length {len} out of bounds"));
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && !regex::Regex::new(pattern).expect("the CRD's pattern").is_match(s)
        {
            out.push(format!("{path}: {s:?} does not match {pattern}"));
        }
    }
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().expect("a field name");
                if !fields.contains_key(name) {
                    out.push(format!("{path}.{name}: required"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, field) in fields {
                let at = format!("{path}.{name}");
                match (properties.and_then(|p| p.get(name)), &schema["additionalProperties"]) {
                    (Some(sub), _) => violations(field, sub, &at, out),
                    (None, Value::Object(_)) => violations(field, &schema["additionalProperties"], &at, out),
                    (None, _) if properties.is_some() => out.push(format!("{at}: unknown field")),
                    (None, _) => {}
                }
            }
        }
        Value::Array(items) => {
            if schema["minItems"].as_u64().is_some_and(|m| (items.len() as u64) < m) {
                out.push(format!("{path}: too few items"));
            }
            for (i, item) in items.iter().enumerate() {
                violations(item, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The SpinApp as the API server would take it: group, version and kind of the CRD, a
/// name, and a spec the schema accepts.
fn spinapp_violations(app: &Value) -> Vec<String> {
    let crd = crd();
    let mut out = Vec::new();
    let api_version = format!(
        "{}/{}",
        crd["group"].as_str().unwrap(),
        crd["version"].as_str().unwrap()
    );
    if app["apiVersion"] != json!(api_version) {
        out.push(format!("apiVersion: expected {api_version}"));
    }
    if app["kind"] != crd["kind"] {
        out.push(format!("kind: expected {}", crd["kind"]));
    }
    if !app["metadata"]["name"].as_str().is_some_and(is_dns_label) {
        out.push("metadata.name: a DNS label is required".into());
    }
    let mut top = app.as_object().cloned().unwrap_or_default();
    top.remove("metadata"); // ObjectMeta: checked above, not part of the CRD's schema.
    violations(&Value::Object(top), &crd["openAPIV3Schema"], "", &mut out);
    // spin-operator's webhook: replicas and enableAutoscaling exclude each other.
    if app["spec"]["enableAutoscaling"] == json!(true) && app["spec"].get("replicas").is_some() {
        out.push(".spec.replicas: cannot be set with enableAutoscaling".into());
    }
    out
}

fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[test]
fn the_spinapp_is_valid_against_the_crd() {
    let app = yaml("deploy/kubernetes/spinapp.yaml");
    assert_eq!(spinapp_violations(&app), Vec::<String>::new());
    assert_eq!(app["spec"]["executor"], "containerd-shim-spin");
}

#[test]
fn the_schema_check_refuses_what_the_api_server_refuses() {
    let app = yaml("deploy/kubernetes/spinapp.yaml");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut copy = app.clone();
        edit(&mut copy);
        spinapp_violations(&copy)
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "missing image",
            Box::new(|a| drop(a["spec"].as_object_mut().unwrap().remove("image"))),
        ),
        ("unknown field", Box::new(|a| a["spec"]["replica"] = json!(3))),
        (
            "wrong type",
            Box::new(|a| a["spec"]["enableAutoscaling"] = json!("yes")),
        ),
        (
            "replicas beside autoscaling",
            Box::new(|a| a["spec"]["replicas"] = json!(3)),
        ),
        (
            "int32 overflow",
            Box::new(|a| {
                a["spec"]["enableAutoscaling"] = json!(false);
                a["spec"]["replicas"] = json!(1u64 << 40)
            }),
        ),
        (
            "bad quantity",
            Box::new(|a| a["spec"]["resources"]["limits"]["cpu"] = json!("lots")),
        ),
        (
            "variable without name",
            Box::new(|a| {
                a["spec"]["variables"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("name")
                    .map(drop)
                    .unwrap_or(())
            }),
        ),
        (
            "secretKeyRef without key",
            Box::new(|a| {
                a["spec"]["variables"][0]["valueFrom"]["secretKeyRef"]
                    .as_object_mut()
                    .unwrap()
                    .remove("key");
            }),
        ),
        ("wrong kind", Box::new(|a| a["kind"] = json!("SpinApplication"))),
        (
            "wrong version",
            Box::new(|a| a["apiVersion"] = json!("core.spinkube.dev/v1")),
        ),
    ];
    for (what, edit) in cases {
        assert!(!broken(&*edit).is_empty(), "{what} was accepted");
    }
}

#[test]
fn the_autoscaler_scales_the_spinapps_deployment() {
    let app = yaml("deploy/kubernetes/spinapp.yaml");
    let hpa = yaml("deploy/kubernetes/hpa.yaml");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(target["apiVersion"], "apps/v1");
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(
        target["name"], app["metadata"]["name"],
        "spin-operator names the Deployment after the SpinApp"
    );
    let (min, max) = (
        hpa["spec"]["minReplicas"].as_u64().unwrap(),
        hpa["spec"]["maxReplicas"].as_u64().unwrap(),
    );
    assert!(1 <= min && min <= max, "{min}..{max}");
    assert!(
        min >= 2,
        "at least two replicas: one pod restarting must not stop the gateway"
    );
    assert_eq!(
        app["spec"]["enableAutoscaling"], true,
        "the operator leaves the count to the HPA"
    );
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!(metric["resource"]["name"], "cpu");
    assert!(
        app["spec"]["resources"]["requests"]["cpu"].is_string(),
        "CPU utilisation is a share of the pods' CPU request"
    );
}

/// The runtime config that kustomization.yaml turns into the SpinApp's Secret.
fn static_values() -> Map<String, Value> {
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let app = yaml("deploy/kubernetes/spinapp.yaml");
    let generator = &kustomization["secretGenerator"][0];
    assert_eq!(generator["name"], app["spec"]["runtimeConfig"]["loadFromSecret"]);
    assert_eq!(
        generator["options"]["disableNameSuffixHash"], true,
        "the SpinApp names it as it is"
    );
    assert_eq!(
        generator["files"][0], "runtime-config.toml",
        "spin-operator reads the Secret's key `runtime-config.toml`"
    );
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/runtime-config.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let providers = doc["variables_provider"].as_array().unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0]["type"].as_str(), Some("static"));
    let values = providers[0]["values"].as_table().unwrap();
    values
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.as_str().expect("values are strings"))))
        .collect()
}

#[test]
fn every_variable_is_set_and_only_the_keys_come_from_a_secret() {
    let manifest = Manifest::load(&root().join("spin.toml")).unwrap();
    let app = yaml("deploy/kubernetes/spinapp.yaml");
    let from_app = app["spec"]["variables"].as_array().unwrap();
    let values = static_values();
    for (name, decl) in &manifest.variables {
        let in_app = from_app.iter().find(|v| v["name"] == json!(name));
        if decl.secret {
            let from_secret = &in_app.unwrap_or_else(|| panic!("{name} is not set"))["valueFrom"]["secretKeyRef"];
            assert!(
                from_secret["name"].is_string() && from_secret["key"].is_string(),
                "{name}"
            );
            assert!(in_app.unwrap().get("value").is_none(), "{name} as a plain value");
            assert!(!values.contains_key(name), "{name} in the runtime config");
        } else {
            assert!(
                in_app.is_none(),
                "{name} would be a SPIN_VARIABLE_* lookup; put it in the runtime config"
            );
            assert!(values.contains_key(name), "{name} is missing from the runtime config");
        }
    }
    for name in values.keys() {
        assert!(
            manifest.variables.contains_key(name),
            "{name} is not a variable of spin.toml"
        );
    }
    // Values the gateway will accept: the same parse as at start, with a stand-in key.
    let config = session_gateway_core::Config::parse(|name| match name {
        "session_keys" => Some(session_gateway_tests::sessions::KEY_A.to_owned()),
        other => values.get(other).and_then(Value::as_str).map(str::to_owned),
    });
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    // SpinKube's shim runs the wasi:http 0.2 build, whose flow refuses key-value reads.
    assert_ne!(
        config.sessions.reads,
        session_gateway_core::config::SessionReads::KeyValue,
        "the 0.2 build refuses session_reads = key_value"
    );
}

#[test]
fn every_variable_the_gateway_reads_is_given_to_it_by_spin_toml() {
    // A variable the manifest does not give the component reads as undefined under Spin:
    // the setting would be ignored without a word.
    let manifest = Manifest::load(&root().join("spin.toml")).unwrap();
    for name in session_gateway_core::config::VARIABLES {
        assert_eq!(
            manifest.component_variables.get(*name),
            Some(&format!("{{{{ {name} }}}}")),
            "{name} is not a component variable of spin.toml"
        );
        assert!(
            manifest.variables.contains_key(*name),
            "{name} is not an application variable"
        );
    }
}

#[test]
fn no_signing_key_is_written_anywhere_in_deploy() {
    for entry in std::fs::read_dir(root().join("deploy/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(
                !(line.contains("session_keys") && (line.contains('=') || line.contains("value:"))),
                "{file}: {line}"
            );
        }
        if path.extension().is_some_and(|e| e == "yaml") {
            let doc = yaml(&format!("deploy/kubernetes/{file}"));
            assert_ne!(
                doc["kind"], "Secret",
                "{file}: Secrets are made with kubectl, not committed"
            );
        }
    }
    assert!(Path::new(&root().join("deploy/kubernetes/kustomization.yaml")).exists());
}

#[test]
fn the_two_manifests_are_one_application_but_for_the_build() {
    // spin.toml (0.2) and spin-p3.toml (0.3) must not drift: a variable or an allowed host
    // added to one only would make the builds behave differently under the same settings.
    let table = |name: &str| -> toml::Table {
        let mut doc: toml::Table = std::fs::read_to_string(root().join(name)).unwrap().parse().unwrap();
        let component = doc["component"]["gateway"].as_table_mut().unwrap();
        let source = component.remove("source").expect("a source");
        let build = component.remove("build").expect("a build");
        assert!(source.as_str().unwrap().ends_with(".wasm"), "{name}");
        assert!(build["command"].as_str().unwrap().starts_with("cargo build"), "{name}");
        doc
    };
    assert_eq!(table("spin.toml"), table("spin-p3.toml"));
    let source = |name: &str| Manifest::load(&root().join(name)).unwrap().source;
    assert!(source("spin.toml").ends_with("session_gateway_p2.wasm"));
    assert!(source("spin-p3.toml").ends_with("session_gateway.wasm"));
}
