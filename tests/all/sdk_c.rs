//! The C SDK (sdk/c): its example tool answers and reaches the host, its runaway examples are
//! stopped by the budgets they exceed while other plugins keep serving, and the project template
//! builds into a working plugin.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chitin_manifest::{Grant, Manifest, embed_manifest};
use serde_json::{Value, json};

use crate::common::{TestHost, TestServer, assert_code, call, cx, grant, repo_root};

const TOOL: &str = "c-text-tools";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_tool_describes_and_answers() {
    let host = TestHost::new();
    let tool = host.load(TOOL, &Grant::default());
    assert_eq!(tool.manifest().language.to_string(), "c");
    let tools = tool.describe_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c_word_count", "c_page_title", "c_budget"]);
    let schema: Value = serde_json::from_str(&tools[0].parameters_schema).unwrap();
    assert_eq!(schema["required"], json!(["text"]));

    // JSON in (escapes, a surrogate pair, multi-byte UTF-8), JSON out.
    let out = tool
        .call_tool(
            "c_word_count",
            r#"{"other": [1, {"x": "y"}], "text": "h\u00e9llo w\u00f6rld \ud83d\ude00\nsecond\tline"}"#,
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.content_type, "application/json");
    let counts: Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(
        counts,
        json!({ "words": 5, "lines": 2, "characters": 25, "bytes": 30 })
    );

    // Errors the model can act on.
    let err = assert_code(
        &call(&tool, "c_word_count", json!({ "text": 42 })).await,
        "guest_error",
    );
    assert!(
        err.contains("invalid arguments: `text` (a string) is required"),
        "{err}"
    );
    let err = tool
        .call_tool("c_word_count", "{\"text\": \"unterminated", &cx())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the arguments must be a JSON object"),
        "{err}"
    );
    let err = assert_code(&call(&tool, "c_nope", json!({})).await, "guest_error");
    assert!(err.contains("unknown tool: c_nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_tool_fetches_through_the_host_under_its_grant() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let tool = host.load(
        TOOL,
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]\n[config]\nuser_agent = \"c-test-agent\"\n",
            server.port()
        )),
    );
    assert_eq!(
        call(&tool, "c_page_title", json!({ "url": server.url("/page") }))
            .await
            .unwrap(),
        "Test page"
    );
    let sent = server.requests().join("\n").to_lowercase();
    assert!(sent.contains("user-agent: c-test-agent"), "{sent}");
    let err = assert_code(
        &call(
            &tool,
            "c_page_title",
            json!({ "url": server.url("/hello") }),
        )
        .await,
        "guest_error",
    );
    assert!(err.contains("has no <title>"), "{err}");

    // Without the grant the host refuses the request and says which grant would allow it.
    let ungranted = host.load(TOOL, &Grant::default());
    let err = assert_code(
        &call(
            &ungranted,
            "c_page_title",
            json!({ "url": server.url("/page") }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("outbound"), "{err}");
}

/// The `budget` interface (chitin:plugin@0.2.0) reports the limits the operator granted, not
/// the manifest's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_tool_sees_its_granted_budget() {
    let host = TestHost::new();
    let budget = |plugin| async move {
        let out = call(&plugin, "c_budget", json!({})).await.unwrap();
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let default = budget(host.load(TOOL, &Grant::default())).await;
    let ms = default["remaining_ms"].as_u64().unwrap();
    assert!(ms > 5_000 && ms <= 10_000, "{default}");
    assert_eq!(default["remaining_http_requests"], 2);

    let narrowed = budget(host.load(
        TOOL,
        &grant("[budgets]\ntimeout_ms = 3000\nmax_http_requests = 1\n"),
    ))
    .await;
    let ms = narrowed["remaining_ms"].as_u64().unwrap();
    assert!(ms > 0 && ms <= 3_000, "{narrowed}");
    assert_eq!(narrowed["remaining_http_requests"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_c_loop_is_stopped_by_fuel_or_time() {
    let host = TestHost::new();
    let spin = host.load("c-spin", &Grant::default());
    let err = assert_code(&call(&spin, "c_spin", json!({})).await, "out_of_fuel");
    assert!(err.contains("ran out of fuel (budget 50000000"), "{err}");

    let spin = host.load(
        "c-spin",
        &grant("[budgets]\nfuel = 40_000_000_000\ntimeout_ms = 300\n"),
    );
    let started = Instant::now();
    let err = assert_code(&call(&spin, "c_spin", json!({})).await, "deadline_exceeded");
    assert!(err.contains("time limit of 300ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_c_allocation_hits_the_memory_limit() {
    let host = TestHost::new();
    let alloc = host.load("c-alloc", &Grant::default());
    let err = assert_code(&call(&alloc, "c_alloc", json!({})).await, "memory_limit");
    assert!(err.contains("memory limit of 16 MiB"), "{err}");
    assert!(err.contains("budgets.memory_mb"), "{err}");
}

/// Both runaway C plugins at once, repeatedly, while the C tool and the Rust echo are called in
/// a loop: every attack ends with its own error and the well-behaved plugins never fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_keeps_serving_while_c_plugins_run_away() {
    let host = TestHost::new();
    let spin = Arc::new(host.load(
        "c-spin",
        &grant("[budgets]\nfuel = 40_000_000_000\ntimeout_ms = 800\n"),
    ));
    let alloc = Arc::new(host.load("c-alloc", &Grant::default()));
    let tool = Arc::new(host.load(TOOL, &Grant::default()));
    let echo = Arc::new(host.load("echo", &Grant::default()));
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));

    let serving = {
        let (tool, echo, done, answered) =
            (tool.clone(), echo.clone(), done.clone(), answered.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let out = call(&tool, "c_word_count", json!({ "text": "still here" })).await;
                assert!(out.unwrap().contains("\"words\":2"));
                let out = call(&echo, "echo", json!({ "text": "still here" })).await;
                assert_eq!(out.unwrap(), "still here");
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };

    let mut attacks = Vec::new();
    for _ in 0..2 {
        let spin = spin.clone();
        attacks.push(tokio::spawn(async move {
            (call(&spin, "c_spin", json!({})).await, "deadline_exceeded")
        }));
        let alloc = alloc.clone();
        attacks.push(tokio::spawn(async move {
            (call(&alloc, "c_alloc", json!({})).await, "memory_limit")
        }));
    }
    for attack in attacks {
        let (result, code) = attack.await.unwrap();
        assert_code(&result, code);
    }
    done.store(true, Ordering::Relaxed);
    serving.await.unwrap();
    // Served during the attacks (how many depends on the machine; that any did, and none
    // failed, is the point).
    assert!(answered.load(Ordering::Relaxed) >= 1);
    // The plugins that were stopped are still usable: every call gets a fresh instance.
    let out = call(&tool, "c_word_count", json!({ "text": "a b c" }))
        .await
        .unwrap();
    assert!(out.contains("\"words\":3"), "{out}");
}

/// What `chitin plugin new --lang c` produces (sdk/c/template with its placeholders filled
/// in) builds with its own build.sh and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_template_builds_into_a_working_plugin() {
    let template = repo_root().join("sdk/c/template");
    let project = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&template).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text
            .replace("{{id}}", "c-template-check")
            .replace("{{name}}", "Template check")
            .replace("{{wit_version}}", chitin_manifest::CURRENT_WIT_VERSION);
        assert!(
            !text.contains("{{"),
            "{:?} has another placeholder",
            entry.path()
        );
        let dest = project.path().join(entry.file_name());
        std::fs::write(&dest, text).unwrap();
        let mode = entry.metadata().unwrap().permissions();
        std::fs::set_permissions(&dest, mode).unwrap();
    }
    let status = Command::new(project.path().join("build.sh"))
        .env("CHITIN_SDK_C", repo_root().join("sdk/c"))
        .status()
        .expect("running the template's build.sh");
    assert!(status.success(), "build.sh failed: {status}");

    let built = project.path().join("target/c-template-check.wasm");
    let wasm = std::fs::read(&built).unwrap();
    let manifest =
        Manifest::from_toml(&std::fs::read_to_string(project.path().join("plugin.toml")).unwrap())
            .unwrap();
    assert_eq!(manifest.wit_version, chitin_manifest::CURRENT_WIT_VERSION);
    let packed = embed_manifest(&wasm, &manifest).unwrap();
    let host = TestHost::new();
    let plugin = host
        .sandbox
        .load_bytes(&packed, &Grant::default())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        call(&plugin, "c-template-check", json!({ "text": "quiet" }))
            .await
            .unwrap(),
        "QUIET"
    );
    assert!(Path::new(&built).exists());
}
