//! The first-party tool plugins `files` and `web-search`, through the sandbox with the grants an
//! operator would write.

use std::path::Path;
use std::sync::Arc;

use chitin_manifest::Grant;
use chitin_sandbox::{HostServices, Plugin, Sandbox, SandboxConfig};
use chitin_secrets::{KeySource, SecretStore, SecretValue};
use serde_json::json;

use crate::common::{TestHost, aot_cache_dir, assert_code, call, grant, test_resolver};
use crate::fakes::brave::{FakeBraveSearch, Hit, SEARCH_PATH, query_param};
use crate::fakes::fixed;

// ---- files ---------------------------------------------------------------------------------

/// `files` with `dir` mounted as its workspace.
fn files_plugin(host: &TestHost, dir: &Path, access: &str) -> Plugin {
    host.load(
        "files",
        &grant(&format!(
            "[[files]]\npath = \"/workspace\"\nhost_dir = \"{}\"\naccess = \"{access}\"\n",
            dir.display()
        )),
    )
}

/// A workspace with a few files, inside `base` (which also holds what is outside it).
fn workspace(host: &TestHost) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = host.dir.path().join("files-test");
    let ws = base.join("ws");
    std::fs::create_dir_all(ws.join("src/deep")).unwrap();
    std::fs::write(
        ws.join("README.md"),
        "# Demo\nline two\nline three\nline four\n",
    )
    .unwrap();
    std::fs::write(
        ws.join("src/lib.rs"),
        "fn main() {\n    println!(\"hi\");\n}\n",
    )
    .unwrap();
    std::fs::write(ws.join("src/deep/notes.txt"), "deep").unwrap();
    (base, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_list_read_write_and_edit_in_the_granted_directory() {
    let host = TestHost::new();
    let (_base, ws) = workspace(&host);
    let files = files_plugin(&host, &ws, "read-write");

    // list
    let top = call(&files, "files_list", json!({})).await.unwrap();
    assert!(top.contains("README.md  (37 bytes)"), "{top}");
    assert!(top.contains("\nsrc/"), "{top}");
    assert!(!top.contains("src/lib.rs"), "not recursive: {top}");
    let all = call(
        &files,
        "files_list",
        json!({ "path": ".", "recursive": true }),
    )
    .await
    .unwrap();
    for entry in [
        "README.md",
        "src/",
        "src/deep/",
        "src/deep/notes.txt  (4 bytes)",
        "src/lib.rs",
    ] {
        assert!(all.contains(entry), "{entry}: {all}");
    }
    let sub = call(&files, "files_list", json!({ "path": "src/" }))
        .await
        .unwrap();
    assert!(sub.starts_with("Contents of `src`:"), "{sub}");
    assert!(
        sub.contains("src/deep/\nsrc/lib.rs"),
        "sorted, relative to the root: {sub}"
    );
    let capped = call(
        &files,
        "files_list",
        json!({ "recursive": true, "max_entries": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(capped.lines().count(), 4, "{capped}");
    assert!(capped.contains("[stopped after 2 entries"), "{capped}");

    // read
    let readme = call(&files, "files_read", json!({ "path": "README.md" }))
        .await
        .unwrap();
    assert_eq!(readme, "# Demo\nline two\nline three\nline four\n");
    let range = call(
        &files,
        "files_read",
        json!({ "path": "README.md", "start_line": 2, "end_line": 3 }),
    )
    .await
    .unwrap();
    assert_eq!(
        range,
        "line two\nline three\n\n[lines 2-3 of `README.md` (4 lines, 37 bytes)]"
    );
    let err = assert_code(
        &call(
            &files,
            "files_read",
            json!({ "path": "README.md", "start_line": 9 }),
        )
        .await,
        "guest_error",
    );
    assert!(
        err.contains("has 4 lines; start_line 9 is past its end"),
        "{err}"
    );
    let err = assert_code(
        &call(&files, "files_read", json!({ "path": "missing.txt" })).await,
        "guest_error",
    );
    assert!(err.contains("`missing.txt` does not exist"), "{err}");
    assert!(err.contains("files_list"), "{err}");

    // write: a new file in new directories, then over it
    let out = call(
        &files,
        "files_write",
        json!({ "path": "notes/2026/today.md", "content": "first draft\n" }),
    )
    .await
    .unwrap();
    assert_eq!(out, "Created `notes/2026/today.md` (12 bytes).");
    assert_eq!(
        std::fs::read_to_string(ws.join("notes/2026/today.md")).unwrap(),
        "first draft\n"
    );
    let out = call(
        &files,
        "files_write",
        json!({ "path": "notes/2026/today.md", "content": "second draft\n" }),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        "Overwrote `notes/2026/today.md` (13 bytes; it had 12)."
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("notes/2026/today.md")).unwrap(),
        "second draft\n"
    );
    let err = assert_code(
        &call(
            &files,
            "files_write",
            json!({ "path": "src", "content": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(err.contains("`src` is a directory"), "{err}");

    // edit: exactly one match is replaced
    let out = call(
        &files,
        "files_edit",
        json!({ "path": "src/lib.rs", "old": "println!(\"hi\");", "new": "println!(\"hello\");" }),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        "Replaced 1 occurrence in `src/lib.rs` at line 2; the file is now 37 bytes."
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("src/lib.rs")).unwrap(),
        "fn main() {\n    println!(\"hello\");\n}\n"
    );
    // not found, and not unique: refused, saying so, and the file is untouched
    let err = assert_code(
        &call(
            &files,
            "files_edit",
            json!({ "path": "README.md", "old": "line five", "new": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(err.contains("`old` was not found in `README.md`"), "{err}");
    assert!(err.contains("files_read"), "{err}");
    let err = assert_code(
        &call(
            &files,
            "files_edit",
            json!({ "path": "README.md", "old": "line t", "new": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(
        err.contains(
            "`old` is not unique: it occurs 2 times in `README.md` (starting at lines 2, 3)"
        ),
        "{err}"
    );
    assert!(
        err.contains("Include more of the surrounding lines"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("README.md")).unwrap(),
        "# Demo\nline two\nline three\nline four\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_refuse_paths_leading_outside_the_workspace() {
    let host = TestHost::new();
    let (base, ws) = workspace(&host);
    std::fs::write(base.join("outside.txt"), "OUTSIDE").unwrap();
    std::os::unix::fs::symlink(base.join("outside.txt"), ws.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../outside.txt", ws.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("../../outside.txt", ws.join("src/deep-link")).unwrap();
    std::os::unix::fs::symlink("/etc", ws.join("etc")).unwrap();
    std::os::unix::fs::symlink("..", ws.join("up")).unwrap();
    // A link that stays inside is fine.
    std::os::unix::fs::symlink("src/lib.rs", ws.join("inner-link")).unwrap();
    let files = files_plugin(&host, &ws, "read-write");
    let before: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let refused = |err: &str| {
        assert!(
            !err.contains("OUTSIDE") && !err.contains("root:x:0"),
            "leaked content: {err}"
        );
    };
    // `..` and absolute paths, for every tool
    for (tool, extra) in [
        ("files_read", json!({})),
        ("files_write", json!({ "content": "pwned" })),
        ("files_edit", json!({ "old": "OUTSIDE", "new": "pwned" })),
        ("files_list", json!({})),
    ] {
        for (path, expected) in [
            ("../outside.txt", "contains `..`"),
            ("src/../../outside.txt", "contains `..`"),
            ("..", "contains `..`"),
            ("/etc/passwd", "is absolute"),
            ("/workspace/README.md", "is absolute"),
        ] {
            let mut args = extra.clone();
            args["path"] = json!(path);
            let err = assert_code(&call(&files, tool, args).await, "guest_error");
            assert!(err.contains(expected), "{tool} {path}: {err}");
            assert!(
                err.contains("relative to the workspace root"),
                "{tool} {path}: says what to do: {err}"
            );
            refused(&err);
        }
    }
    // symbolic links pointing outside, to a file or through a directory
    for (tool, extra) in [
        ("files_read", json!({})),
        ("files_write", json!({ "content": "pwned" })),
        ("files_edit", json!({ "old": "OUTSIDE", "new": "pwned" })),
    ] {
        for path in [
            "abs-link",
            "rel-link",
            "src/deep-link",
            "etc/passwd",
            "up/outside.txt",
        ] {
            let mut args = extra.clone();
            args["path"] = json!(path);
            let err = assert_code(&call(&files, tool, args).await, "guest_error");
            assert!(
                err.contains("symbolic link that points outside the workspace"),
                "{tool} {path}: {err}"
            );
            assert!(err.contains("will not follow it"), "{tool} {path}: {err}");
            refused(&err);
        }
    }
    let err = assert_code(
        &call(&files, "files_list", json!({ "path": "etc" })).await,
        "guest_error",
    );
    assert!(
        err.contains("`etc` is a symbolic link that points outside"),
        "{err}"
    );
    let err = assert_code(
        &call(
            &files,
            "files_write",
            json!({ "path": "up/new.txt", "content": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(err.contains("goes through `up`"), "{err}");

    // The listing shows such links without following them.
    let listing = call(&files, "files_list", json!({ "recursive": true }))
        .await
        .unwrap();
    assert!(
        listing
            .contains("abs-link -> (symbolic link pointing outside the workspace; cannot be used)"),
        "{listing}"
    );
    assert!(listing.contains("inner-link -> src/lib.rs"), "{listing}");
    assert!(!listing.contains("passwd"), "followed /etc: {listing}");
    // A link inside the workspace works.
    assert_eq!(
        call(&files, "files_read", json!({ "path": "inner-link" }))
            .await
            .unwrap(),
        "fn main() {\n    println!(\"hi\");\n}\n"
    );

    // Nothing outside was touched.
    assert_eq!(
        std::fs::read_to_string(base.join("outside.txt")).unwrap(),
        "OUTSIDE"
    );
    let after: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "no file appeared outside the workspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_read_only_grant_refuses_writes_naming_the_fix() {
    let host = TestHost::new();
    let (_base, ws) = workspace(&host);
    let files = files_plugin(&host, &ws, "read");

    assert!(
        call(&files, "files_list", json!({}))
            .await
            .unwrap()
            .contains("README.md")
    );
    assert_eq!(
        call(
            &files,
            "files_read",
            json!({ "path": "src/deep/notes.txt" })
        )
        .await
        .unwrap(),
        "deep"
    );
    for (tool, args) in [
        ("files_write", json!({ "path": "new.txt", "content": "x" })),
        (
            "files_write",
            json!({ "path": "new/dir/file.txt", "content": "x" }),
        ),
        (
            "files_write",
            json!({ "path": "README.md", "content": "x" }),
        ),
        (
            "files_edit",
            json!({ "path": "README.md", "old": "# Demo", "new": "# Changed" }),
        ),
    ] {
        let err = assert_code(&call(&files, tool, args.clone()).await, "guest_error");
        assert!(
            err.contains("the workspace is read-only"),
            "{tool} {args}: {err}"
        );
        assert!(err.contains("nothing was changed"), "{tool} {args}: {err}");
        assert!(
            err.contains("set access = \"read-write\"") && err.contains("[plugins.files.grant]"),
            "names the fix: {err}"
        );
    }
    assert!(!ws.join("new.txt").exists());
    assert!(!ws.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(ws.join("README.md")).unwrap(),
        "# Demo\nline two\nline three\nline four\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_large_reads_are_truncated_with_a_note() {
    let host = TestHost::new();
    let (_base, ws) = workspace(&host);
    // 10,000 lines of 20 bytes: 200,000 bytes, over the 65,536-byte default.
    let text: String = (1..=10_000).map(|i| format!("line {i:>14}\n")).collect();
    assert_eq!(text.len(), 200_000);
    std::fs::write(ws.join("big.log"), &text).unwrap();
    let files = files_plugin(&host, &ws, "read");

    let out = call(&files, "files_read", json!({ "path": "big.log" }))
        .await
        .unwrap();
    // 3276 whole lines fit in 65,536 bytes; the note says where to go on.
    let (body, note) = out.split_once("\n[truncated:").expect("a truncation note");
    assert_eq!(body, &text[..3276 * 20]);
    assert!(
        note.contains("showing lines 1-3276 of `big.log` (10000 lines, 200000 bytes)"),
        "{note}"
    );
    assert!(note.contains("output limit of 65536 bytes"), "{note}");
    assert!(note.contains("Continue with start_line=3277"), "{note}");

    let next = call(
        &files,
        "files_read",
        json!({ "path": "big.log", "start_line": 3277, "max_bytes": 100 }),
    )
    .await
    .unwrap();
    assert!(
        next.starts_with("line           3277\nline           3278\nline           3279\nline           3280\nline           3281\n\n[truncated: showing lines 3277-3281"),
        "{next}"
    );
    // One line longer than the limit: its beginning, and a note.
    std::fs::write(ws.join("minified.js"), "x".repeat(5000)).unwrap();
    let out = call(
        &files,
        "files_read",
        json!({ "path": "minified.js", "max_bytes": 1000 }),
    )
    .await
    .unwrap();
    assert!(
        out.starts_with(&format!(
            "{}\n[truncated: line 1 of `minified.js`",
            "x".repeat(1000)
        )),
        "{out}"
    );
    // Binary files are refused.
    std::fs::write(ws.join("blob.bin"), [0u8, 1, 2, 3]).unwrap();
    let err = assert_code(
        &call(&files, "files_read", json!({ "path": "blob.bin" })).await,
        "guest_error",
    );
    assert!(err.contains("looks like a binary file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_a_grant_say_how_to_grant_one() {
    let host = TestHost::new();
    let files = host.load("files", &Grant::default());
    let err = assert_code(&call(&files, "files_list", json!({})).await, "guest_error");
    assert!(err.contains("no workspace directory is granted"), "{err}");
    assert!(err.contains("path = \"/workspace\", host_dir = "), "{err}");
    // A grant for another guest path than the one requested is refused at load.
    let other = host.sandbox.load_file(
        &crate::common::plugin_path("files"),
        &grant(&format!(
            "[[files]]\npath = \"/data\"\nhost_dir = \"{}\"\naccess = \"read\"\n",
            host.dir.path().display()
        )),
    );
    let err = other
        .err()
        .expect("unrequested path must be refused")
        .to_string();
    assert!(err.contains("/workspace"), "{err}");
}

// ---- web-search ----------------------------------------------------------------------------

/// The Brave key the tests store; it must only ever appear on the wire.
const BRAVE_KEY: &str = "BSAk3y-5e1f0c9a27d84b6e";

const HITS: &[Hit] = &[
    (
        "The <strong>WebAssembly</strong> Component Model",
        "https://component-model.bytecodealliance.org/",
        "The <strong>WebAssembly</strong> Component Model is a broad-reaching architecture for building interoperable <strong>Wasm</strong> libraries, applications, and environments.",
    ),
    (
        "wasmtime - Rust",
        "https://docs.rs/wasmtime/latest/wasmtime/",
        "Wasmtime&#x27;s embedding API &amp; <strong>component</strong> support.",
    ),
    (
        "WASI 0.2",
        "https://wasi.dev/",
        "The WebAssembly System Interface.",
    ),
    ("Fourth result", "https://example.org/4", "Not requested."),
];

/// A test host whose secret store holds `BRAVE_API_KEY`, as `chitin secrets set` would.
fn brave_host() -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let key = KeySource::File {
        path: dir.path().join("secrets.key"),
    };
    let mut secrets = SecretStore::open(&dir.path().join("secrets.enc"), &key).unwrap();
    secrets
        .set("BRAVE_API_KEY", SecretValue::new(BRAVE_KEY))
        .unwrap();
    let services = HostServices {
        store: None,
        secrets: Arc::new(secrets),
        resolver: Arc::new(test_resolver()),
    };
    let config = SandboxConfig {
        cache_dir: aot_cache_dir(),
        pool: Default::default(),
    };
    TestHost {
        sandbox: Sandbox::new(config, services).unwrap(),
        dir,
    }
}

/// The grant the README documents, aimed at the fake instead of api.search.brave.com.
fn brave_grant(fake: &FakeBraveSearch) -> Grant {
    let origin = format!("http://127.0.0.1:{}", fake.server.port());
    grant(&format!(
        "outbound = [\"{origin}\"]\nallow_private = [\"127.0.0.1/32\"]\n\
         secrets = [{{ name = \"BRAVE_API_KEY\", hosts = [\"{origin}\"] }}]\n\
         config = {{ base_url = \"{}\" }}\n",
        fake.base_url()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_sends_the_key_at_the_edge_and_lists_results() {
    let fake = FakeBraveSearch::start(vec![FakeBraveSearch::search(BRAVE_KEY, HITS)]).await;
    let host = brave_host();
    let search = host.load("web-search", &brave_grant(&fake));

    let out = call(
        &search,
        "web_search",
        json!({ "query": "wasm components & wasi/p2", "count": 3 }),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        "Web results for \"wasm components & wasi/p2\":\n\
         \n1. The WebAssembly Component Model\n   https://component-model.bytecodealliance.org/\n   \
         The WebAssembly Component Model is a broad-reaching architecture for building interoperable Wasm libraries, applications, and environments.\n\
         \n2. wasmtime - Rust\n   https://docs.rs/wasmtime/latest/wasmtime/\n   Wasmtime's embedding API & component support.\n\
         \n3. WASI 0.2\n   https://wasi.dev/\n   The WebAssembly System Interface.\n"
    );
    assert!(!out.contains(BRAVE_KEY));

    let request = fake.server.request();
    assert_eq!(request.method, "GET");
    assert!(
        request.target.starts_with(&format!("{SEARCH_PATH}?q=")),
        "{}",
        request.target
    );
    assert_eq!(
        query_param(&request, "q").as_deref(),
        Some("wasm components & wasi/p2")
    );
    assert_eq!(query_param(&request, "count").as_deref(), Some("3"));
    // The host put the key in, at the edge; the plugin only wrote the placeholder.
    assert_eq!(request.header("x-subscription-token"), Some(BRAVE_KEY));
    assert_eq!(request.header("accept"), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_needs_the_hosts_grant() {
    let fake = FakeBraveSearch::start(vec![FakeBraveSearch::search(BRAVE_KEY, HITS)]).await;
    let host = brave_host();
    // The key and the base URL, but no outbound host: the request is refused before it leaves.
    let no_outbound = host.load(
        "web-search",
        &grant(&format!(
            "secrets = [{{ name = \"BRAVE_API_KEY\" }}]\nconfig = {{ base_url = \"{}\" }}\n",
            fake.base_url()
        )),
    );
    let err = assert_code(
        &call(&no_outbound, "web_search", json!({ "query": "rust" })).await,
        "capability_denied",
    );
    assert!(err.contains("no outbound HTTP grant"), "{err}");
    assert!(
        err.contains("add \"http://127.0.0.1\""),
        "names the grant: {err}"
    );
    assert!(!err.contains(BRAVE_KEY), "{err}");
    // Another host allowed, but not this one.
    let elsewhere = host.load(
        "web-search",
        &grant(&format!(
            "outbound = [\"https://api.search.brave.com\"]\n\
             secrets = [{{ name = \"BRAVE_API_KEY\" }}]\nconfig = {{ base_url = \"{}\" }}\n",
            fake.base_url()
        )),
    );
    let err = assert_code(
        &call(&elsewhere, "web_search", json!({ "query": "rust" })).await,
        "capability_denied",
    );
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(
        fake.server.requests().is_empty(),
        "nothing reached the fake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_without_the_key_says_how_to_set_it() {
    let fake = FakeBraveSearch::start(vec![FakeBraveSearch::search(BRAVE_KEY, HITS)]).await;
    let host = brave_host();
    let origin = format!("http://127.0.0.1:{}", fake.server.port());
    let search = host.load(
        "web-search",
        &grant(&format!(
            "outbound = [\"{origin}\"]\nallow_private = [\"127.0.0.1/32\"]\n\
             config = {{ base_url = \"{origin}\" }}\n"
        )),
    );
    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(err.contains("no Brave Search API key"), "{err}");
    assert!(err.contains("chitin secrets set BRAVE_API_KEY"), "{err}");
    assert!(fake.server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_reports_rate_limits_with_when_to_retry() {
    let fake = FakeBraveSearch::start(vec![
        fixed(FakeBraveSearch::rate_limited()),
        fixed(FakeBraveSearch::quota_exhausted()),
    ])
    .await;
    let host = brave_host();
    let search = host.load("web-search", &brave_grant(&fake));

    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(
        err.contains(
            "Brave Search rate limit reached (HTTP 429, RATE_LIMITED: Request rate limit exceeded for plan.). Retry in 1 second"
        ),
        "{err}"
    );
    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(
        err.contains("quota is used up until it resets in 17 days; do not retry before then"),
        "{err}"
    );
    for request in fake.server.requests() {
        assert_eq!(request.header("x-subscription-token"), Some(BRAVE_KEY));
    }
    assert!(!err.contains(BRAVE_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_reports_a_bad_key() {
    // The fake expects another key than the one stored: Brave answers 401.
    let fake =
        FakeBraveSearch::start(vec![FakeBraveSearch::search("BSA-the-right-key", HITS)]).await;
    let host = brave_host();
    let search = host.load("web-search", &brave_grant(&fake));
    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(
        err.contains(
            "Brave Search rejected the API key as invalid (HTTP 401, SUBSCRIPTION_TOKEN_INVALID: The provided subscription token is invalid.)"
        ),
        "{err}"
    );
    assert!(err.contains("Retrying will not help"), "{err}");
    assert!(err.contains("chitin secrets set BRAVE_API_KEY"), "{err}");
    assert!(!err.contains(BRAVE_KEY), "{err}");
    assert_eq!(
        fake.server.request().header("x-subscription-token"),
        Some(BRAVE_KEY)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_reports_server_errors_malformed_json_and_no_results() {
    let fake = FakeBraveSearch::start(vec![
        fixed(FakeBraveSearch::error(
            503,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable.",
            json!({}),
        )),
        fixed(crate::fakes::Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: crate::fakes::Body::Whole(
                b"{\"type\": \"search\", \"web\": {\"results\": [".to_vec(),
            ),
            cut_off: false,
        }),
        fixed(FakeBraveSearch::results("zzqxv", &[])),
    ])
    .await;
    let host = brave_host();
    let search = host.load("web-search", &brave_grant(&fake));

    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(
        err.contains("Brave Search had a server error (HTTP 503, SERVICE_UNAVAILABLE"),
        "{err}"
    );
    assert!(err.contains("try again in a minute"), "{err}");
    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "rust" })).await,
        "guest_error",
    );
    assert!(
        err.contains("answered HTTP 200 with a response that is not a web search result"),
        "{err}"
    );
    assert!(err.contains("invalid JSON"), "{err}");
    let out = call(&search, "web_search", json!({ "query": "zzqxv" }))
        .await
        .unwrap();
    assert_eq!(
        out,
        "No web results for \"zzqxv\". Try other or fewer words."
    );

    let err = assert_code(
        &call(&search, "web_search", json!({ "query": "  " })).await,
        "guest_error",
    );
    assert!(err.contains("invalid arguments: query is empty"), "{err}");
    assert_eq!(fake.server.requests().len(), 3);
}
