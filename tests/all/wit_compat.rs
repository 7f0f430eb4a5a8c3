//! WIT version compatibility: a plugin built against `chitin:plugin@0.1.0` (the fixture in
//! tests/guests/wit-0.1.0, built from its own frozen copy of that WIT) runs on this host next to
//! current ones; unsupported versions and components that contradict their manifest are refused
//! with messages that say what to do.

use chitin_manifest::{
    CURRENT_WIT_VERSION, Grant, Manifest, SUPPORTED_WIT_VERSIONS, embed_manifest, extract_manifest,
};
use chitin_sandbox::LoadError;
use serde_json::json;

use crate::common::{TestHost, TestServer, assert_code, call, grant, plugin_path};

const FIXTURE: &str = "wit-v0-1-0";

/// A packed plugin's bytes with its manifest changed by `edit`, as a stale or forged
/// `plugin.toml` would produce.
fn repacked(id: &str, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let wasm = std::fs::read(plugin_path(id)).unwrap();
    let mut manifest = extract_manifest(&wasm).unwrap();
    edit(&mut manifest);
    embed_manifest(&wasm, &manifest).unwrap()
}

fn load_error(host: &TestHost, wasm: &[u8]) -> LoadError {
    match host.sandbox.load_bytes(wasm, &Grant::default()) {
        Ok(_) => panic!("the plugin loaded"),
        Err(err) => err,
    }
}

#[test]
fn both_versions_are_supported() {
    assert_eq!(CURRENT_WIT_VERSION, "0.2.0");
    assert_eq!(SUPPORTED_WIT_VERSIONS, ["0.1.0", "0.2.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_built_against_0_1_0_runs_with_every_host_interface() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let fixture = host.load(
        FIXTURE,
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]\n[kv]\nquota_bytes = 4096\n\
             [config]\ngreeting = \"hello from 0.1.0\"\n",
            server.port()
        )),
    );
    assert_eq!(fixture.manifest().wit_version, "0.1.0");

    // Exports: describe and call, records converted both ways (the call context goes in).
    let tools = fixture.describe_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "echo",
            "log",
            "kv",
            "config",
            "fetch",
            "fetch_stream",
            "refuse"
        ]
    );
    let out = fixture
        .call_tool(
            "echo",
            &json!({ "text": "hi" }).to_string(),
            &crate::common::cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.content, "hi (test)");
    assert_eq!(out.content_type, "text/plain");

    // Host interfaces through the 0.1.0 bindings.
    assert_eq!(
        call(
            &fixture,
            "log",
            json!({ "text": "a line from a 0.1.0 plugin" })
        )
        .await
        .unwrap(),
        "logged"
    );
    assert_eq!(
        call(&fixture, "kv", json!({ "key": "k1", "text": "stored" }))
            .await
            .unwrap(),
        "stored [\"k1\"]"
    );
    assert_eq!(
        call(&fixture, "config", json!({ "key": "greeting" }))
            .await
            .unwrap(),
        "hello from 0.1.0"
    );
    assert_eq!(
        call(&fixture, "fetch", json!({ "url": server.url("/hello") }))
            .await
            .unwrap(),
        "200 hello from the test server"
    );
    // The streamed body is a resource of the current bindings handed to a 0.1.0 guest.
    assert_eq!(
        call(
            &fixture,
            "fetch_stream",
            json!({ "url": server.url("/hello") })
        )
        .await
        .unwrap(),
        "200 hello from the test server"
    );

    // Errors: the guest's own (a 0.1.0 tool-error), and the host's refusals, keep their meaning.
    let err = assert_code(&call(&fixture, "refuse", json!({})).await, "guest_error");
    assert!(
        err.contains("invalid arguments: this tool always refuses"),
        "{err}"
    );
    let err = assert_code(
        &call(
            &fixture,
            "fetch",
            json!({ "url": "http://127.0.0.2:9/elsewhere" }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("127.0.0.2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_current_plugins_run_side_by_side() {
    let host = TestHost::new();
    let old = host.load(FIXTURE, &Grant::default());
    let current = host.load("echo", &Grant::default());
    assert_eq!(current.manifest().wit_version, CURRENT_WIT_VERSION);
    let (a, b) = tokio::join!(
        call(&old, "echo", json!({ "text": "old" })),
        call(&current, "echo", json!({ "text": "new" })),
    );
    assert_eq!(a.unwrap(), "old (test)");
    assert_eq!(b.unwrap(), "new");
    // A kv call without a kv grant is refused through the 0.1.0 bindings as through the current.
    let err = assert_code(
        &call(&old, "kv", json!({ "key": "k", "text": "v" })).await,
        "capability_denied",
    );
    assert!(err.contains("no key-value grant"), "{err}");
}

#[test]
fn unsupported_versions_are_refused_naming_both() {
    let host = TestHost::new();
    for (version, fix) in [
        ("0.0.9", "rebuild the plugin"),
        ("9.0.0", "upgrade Chitin"),
        ("0.1.1", "rebuild the plugin"),
    ] {
        let wasm = repacked(FIXTURE, |m| m.wit_version = version.to_string());
        let err = load_error(&host, &wasm).to_string();
        assert!(
            err.contains(&format!(
                "plugin `{FIXTURE}` was built against chitin:plugin@{version}; this Chitin \
                 supports chitin:plugin@0.1.0, chitin:plugin@0.2.0"
            )),
            "{err}"
        );
        assert!(err.contains(fix), "{err}");
    }
}

#[test]
fn a_component_that_contradicts_its_manifest_is_refused() {
    let host = TestHost::new();

    // Built against 0.2.0 (echo, from the SDK) but packed as 0.1.0.
    let wasm = repacked("echo", |m| m.wit_version = "0.1.0".into());
    let err = load_error(&host, &wasm).to_string();
    assert!(
        err.contains(
            "plugin `echo`: its manifest says it was built against chitin:plugin@0.1.0, but the \
             component uses `chitin:plugin/tool@0.2.0`"
        ),
        "{err}"
    );
    assert!(err.contains("set wit_version = \"0.2.0\""), "{err}");

    // Built against 0.1.0 (the fixture) but packed as 0.2.0.
    let wasm = repacked(FIXTURE, |m| m.wit_version = "0.2.0".into());
    let err = load_error(&host, &wasm).to_string();
    assert!(
        err.contains("its manifest says it was built against chitin:plugin@0.2.0")
            && err.contains("@0.1.0`"),
        "{err}"
    );
    assert!(err.contains("set wit_version = \"0.1.0\""), "{err}");

    // The real manifests load.
    host.load("echo", &Grant::default());
    host.load(FIXTURE, &Grant::default());
}
