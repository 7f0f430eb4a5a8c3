//! Loading plugins: the embedded manifest, grant narrowing, the AOT cache.

use chitin_manifest::Grant;
use chitin_sandbox::CacheOutcome;
use serde_json::json;

use crate::common::{TestHost, call, grant, plugin_path, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_plugin_describes_and_answers() {
    let host = TestHost::new();
    let echo = host.load("echo", &Grant::default());
    assert_eq!(echo.manifest().id, "echo");
    let tools = echo.describe_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "echo");
    let schema: serde_json::Value = serde_json::from_str(&tools[0].parameters_schema).unwrap();
    assert_eq!(schema["required"], json!(["text"]));
    assert_eq!(
        call(&echo, "echo", json!({ "text": "hi" })).await.unwrap(),
        "hi"
    );
    let err = call(&echo, "echo", json!({ "txt": "hi" }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "guest_error");
    assert!(
        err.to_string()
            .contains("invalid arguments: missing field `text`"),
        "{err}"
    );
}

#[test]
fn a_component_without_a_manifest_is_refused() {
    let host = TestHost::new();
    let raw = repo_root().join("target/wasm32-wasip2/guest/echo_tool.wasm");
    let err = host
        .sandbox
        .load_file(&raw, &Grant::default())
        .err()
        .expect("an unpacked component has no manifest")
        .to_string();
    assert!(
        err.contains("chitin plugin pack"),
        "says how to fix it: {err}"
    );
}

#[test]
fn a_grant_wider_than_the_request_is_refused() {
    let host = TestHost::new();
    let err = host
        .sandbox
        .load_file(
            &plugin_path("echo"),
            &grant("outbound = [\"https://example.com\"]"),
        )
        .err()
        .expect("echo requests no outbound hosts")
        .to_string();
    assert!(
        err.contains("echo") && err.contains("https://example.com"),
        "{err}"
    );
}

#[test]
fn compiled_artifacts_are_cached_by_digest() {
    let host = TestHost::new();
    let first = host.load("echo", &Grant::default());
    let second = host.load("echo", &Grant::default());
    assert_eq!(first.digest(), second.digest());
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    let artifact = host
        .sandbox
        .cache()
        .artifact_path(host.sandbox.engine(), first.digest());
    assert!(artifact.exists(), "{}", artifact.display());

    // A corrupt artifact is discarded and recompiled, never loaded.
    let dir = tempfile::tempdir().unwrap();
    let cache = chitin_sandbox::AotCache::new(dir.path());
    let wasm = std::fs::read(plugin_path("echo")).unwrap();
    let digest = chitin_sandbox::sha256_hex(&wasm);
    std::fs::write(
        cache.artifact_path(host.sandbox.engine(), &digest),
        b"garbage",
    )
    .unwrap();
    let (_, outcome) = cache.load(host.sandbox.engine(), &wasm, &digest).unwrap();
    assert_eq!(outcome, CacheOutcome::Compiled);
    let (_, outcome) = cache.load(host.sandbox.engine(), &wasm, &digest).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_fetch_returns_readable_text_from_an_allowed_host() {
    let server = crate::common::TestServer::start().await;
    let host = TestHost::new();
    let web_fetch = host.load(
        "web-fetch",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    let out = web_fetch
        .call_tool(
            "web_fetch",
            &json!({ "url": server.url("/page") }).to_string(),
            &crate::common::cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.content_type, "text/markdown");
    assert_eq!(
        out.content,
        format!(
            "Title: Test page\nURL: {}\n\n# Hi\nSome text.",
            server.url("/page")
        )
    );
    let err = web_fetch
        .call_tool(
            "web_fetch",
            &json!({ "url": "https://example.com/" }).to_string(),
            &crate::common::cx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "capability_denied", "{err}");
}
