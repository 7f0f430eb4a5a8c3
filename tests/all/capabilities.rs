//! One test (at least) per capability proving the denial, and the grant that allows it.

use chitin_manifest::Grant;
use serde_json::json;

use crate::common::{API_TOKEN, TestHost, TestServer, assert_code, call, grant};

// ---- outbound HTTP -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_needs_a_grant() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(
        &call(&hostile, "fetch", json!({ "url": server.url("/hello") })).await,
        "capability_denied",
    );
    assert!(err.contains("no outbound HTTP grant"), "{err}");
    assert!(
        err.contains("add \"http://127.0.0.1\""),
        "names the grant: {err}"
    );
    assert!(server.requests().is_empty(), "nothing reached the server");

    let allowed = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    let out = call(&allowed, "fetch", json!({ "url": server.url("/hello") }))
        .await
        .unwrap();
    assert_eq!(out, "200 hello from the test server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_host_is_denied() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    let err = assert_code(
        &call(&hostile, "fetch", json!({ "url": "https://example.com/" })).await,
        "capability_denied",
    );
    assert!(err.contains("example.com"), "{err}");
    // Another port of an allowed host is another host.
    let other_port = format!("http://127.0.0.1:{}/hello", server.port() ^ 1);
    assert_code(
        &call(&hostile, "fetch", json!({ "url": other_port })).await,
        "capability_denied",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_name_resolving_to_loopback_or_metadata_is_refused() {
    let server = TestServer::start().await;
    let port = server.port();
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://rebind.test:{port}\", \"http://metadata.test\", \"http://localhost:{port}\", \"http://private.test\"]"
        )),
    );
    for url in [
        format!("http://rebind.test:{port}/hello"),
        format!("http://localhost:{port}/hello"),
    ] {
        let err = assert_code(
            &call(&hostile, "fetch", json!({ "url": url })).await,
            "capability_denied",
        );
        assert!(err.contains("127.0.0.1") || err.contains("::1"), "{err}");
        assert!(err.contains("loopback"), "{err}");
    }
    let err = assert_code(
        &call(
            &hostile,
            "fetch",
            json!({ "url": "http://metadata.test/latest/meta-data/" }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("169.254.169.254"), "{err}");
    let err = assert_code(
        &call(&hostile, "fetch", json!({ "url": "http://private.test/" })).await,
        "capability_denied",
    );
    assert!(err.contains("10.0.0.7"), "{err}");
    assert!(server.requests().is_empty(), "nothing reached the server");

    // Naming the range in the grant is how an operator allows a LAN service on purpose.
    let lan = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://rebind.test:{port}\"]\nallow_private = [\"127.0.0.0/8\"]"
        )),
    );
    let out = call(
        &lan,
        "fetch",
        json!({ "url": format!("http://rebind.test:{port}/hello") }),
    )
    .await
    .unwrap();
    assert_eq!(out, "200 hello from the test server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_tricks_are_refused() {
    let server = TestServer::start().await;
    let port = server.port();
    let host = TestHost::new();
    // Only the name `localhost` is allowed (and it resolves to loopback, which is refused), so
    // every spelling of 127.0.0.1 must be refused too.
    let hostile = host.load(
        "hostile",
        &grant(&format!("outbound = [\"http://localhost:{port}\"]")),
    );
    for url in [
        format!("http://2130706433:{port}/hello"), // decimal IPv4
        format!("http://0x7f.0.0.1:{port}/hello"), // hex octet
        format!("http://[::ffff:127.0.0.1]:{port}/hello"), // IPv4-mapped IPv6
        format!("http://[::1]:{port}/hello"),
        format!("http://localhost:{port}@127.0.0.1:{port}/hello"), // userinfo
        format!("http://127.1:{port}/hello"),
    ] {
        let result = call(&hostile, "fetch", json!({ "url": url })).await;
        let err = result.expect_err(&url);
        assert!(
            ["capability_denied", "guest_error"].contains(&err.code()),
            "{url}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("denied") || text.contains("invalid request"),
            "{url}: {text}"
        );
    }
    assert!(
        server.requests().is_empty(),
        "nothing reached the server: {:?}",
        server.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_rechecked() {
    let server = TestServer::start().await;
    let port = server.port();
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!("outbound = [\"http://127.0.0.1:{port}\"]")),
    );
    // To an allowed URL: followed.
    let ok = call(
        &hostile,
        "fetch",
        json!({ "url": server.url(&format!("/redirect?to=http://127.0.0.1:{port}/hello")) }),
    )
    .await
    .unwrap();
    assert_eq!(ok, "200 hello from the test server");
    // To an unlisted host: refused, and nothing is requested from it.
    let err = assert_code(
        &call(
            &hostile,
            "fetch",
            json!({ "url": server.url("/redirect?to=http://169.254.169.254/latest/meta-data/") }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("169.254.169.254"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_size_is_bounded() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]\n[budgets]\nmax_response_kb = 64\n",
            server.port()
        )),
    );
    let result = call(
        &hostile,
        "fetch",
        json!({ "url": server.url("/big?bytes=200000") }),
    )
    .await;
    let err = assert_code(&result, "guest_error");
    assert!(err.contains("larger than 65536 bytes"), "{err}");
}

// ---- secrets -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_injected_at_the_edge_and_never_seen_by_the_guest() {
    let server = TestServer::start().await;
    let port = server.port();
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{port}\"]\n[[secrets]]\nname = \"API_TOKEN\"\n"
        )),
    );
    assert_eq!(
        call(&hostile, "secret_exists", json!({ "text": "API_TOKEN" }))
            .await
            .unwrap(),
        "true"
    );
    // The server echoes the request back: the secret went over the wire, but what the guest
    // gets back has it redacted.
    let out = call(
        &hostile,
        "fetch",
        json!({
            "url": server.url("/echo?key={{secret:API_TOKEN}}"),
            "headers": [["Authorization", "Bearer {{secret:API_TOKEN}}"]],
            "body": "token={{secret:API_TOKEN}}",
        }),
    )
    .await
    .unwrap();
    let wire = server.requests().join("\n");
    assert!(
        wire.contains(&format!("Bearer {API_TOKEN}")),
        "header injected: {wire}"
    );
    assert!(
        wire.contains(&format!("key={API_TOKEN}")),
        "query injected: {wire}"
    );
    assert!(
        wire.contains(&format!("token={API_TOKEN}")),
        "body injected: {wire}"
    );
    assert!(!out.contains(API_TOKEN), "the guest saw the secret: {out}");
    assert!(out.contains("[REDACTED:API_TOKEN]"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_only_go_to_their_audience() {
    let server = TestServer::start().await;
    let port = server.port();
    let host = TestHost::new();
    // The plugin may reach localhost too, but the secret's audience is 127.0.0.1 only.
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{port}\", \"http://rebind.test:{port}\"]\n\
             allow_private = [\"127.0.0.0/8\"]\n[[secrets]]\nname = \"API_TOKEN\"\n"
        )),
    );
    let err = assert_code(
        &call(
            &hostile,
            "fetch",
            json!({
                "url": format!("http://rebind.test:{port}/echo"),
                "headers": [["Authorization", "Bearer {{secret:API_TOKEN}}"]],
            }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("API_TOKEN"), "{err}");
    // The path is not an allowed injection point for this secret.
    assert_code(
        &call(
            &hostile,
            "fetch",
            json!({ "url": server.url("/{{secret:API_TOKEN}}/echo") }),
        )
        .await,
        "capability_denied",
    );
    assert!(
        server.requests().iter().all(|r| !r.contains(API_TOKEN)),
        "the secret never left for a host outside its audience"
    );
}

/// A plugin that got hold of a secret value (here: from a file it was granted) cannot send it,
/// even to a host it may reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_secret_values_cannot_be_exfiltrated() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let data = host.dir.path().join("leaky");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("config.env"), format!("TOKEN={API_TOKEN}")).unwrap();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]\n[[files]]\npath = \"/data\"\nhost_dir = \"{}\"\naccess = \"read\"\n",
            server.port(),
            data.display()
        )),
    );
    // Reading it is allowed, but what the plugin returns is redacted...
    let read = call(&hostile, "read_file", json!({ "path": "/data/config.env" }))
        .await
        .unwrap();
    assert_eq!(read, "TOKEN=[REDACTED:API_TOKEN]");
    // ...and sending the raw value anywhere is refused before anything leaves.
    for request in [
        json!({ "url": server.url(&format!("/echo?t={API_TOKEN}")) }),
        json!({ "url": server.url("/echo"), "headers": [["X-T", API_TOKEN]] }),
        json!({ "url": server.url("/echo"), "body": format!("t={API_TOKEN}") }),
    ] {
        let err = assert_code(&call(&hostile, "fetch", request).await, "capability_denied");
        assert!(err.contains("value of secret API_TOKEN"), "{err}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_secrets_do_not_exist_for_the_guest() {
    let server = TestServer::start().await;
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    assert_eq!(
        call(&hostile, "secret_exists", json!({ "text": "API_TOKEN" }))
            .await
            .unwrap(),
        "false"
    );
    assert_code(
        &call(
            &hostile,
            "fetch",
            json!({ "url": server.url("/echo"), "headers": [["X-Key", "{{secret:API_TOKEN}}"]] }),
        )
        .await,
        "capability_denied",
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_hunting_finds_nothing() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let found = call(&hostile, "hunt_secrets", json!({})).await.unwrap();
    assert_eq!(found, "", "the guest found: {found}");
    let env = call(&hostile, "environment", json!({})).await.unwrap();
    assert_eq!(env, "vars=[] args=[]");
    // A placeholder in an error message is never expanded.
    let result = call(
        &hostile,
        "error_with_placeholder",
        json!({ "text": "API_TOKEN" }),
    )
    .await;
    let err = assert_code(&result, "guest_error");
    assert!(
        err.contains("{{secret:API_TOKEN}}") && !err.contains(API_TOKEN),
        "{err}"
    );
}

// ---- files ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_stay_inside_the_granted_directory() {
    let host = TestHost::new();
    let root = host.dir.path().join("files");
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("note.txt"), "inside").unwrap();
    std::fs::write(root.join("outside.txt"), "OUTSIDE").unwrap();
    std::os::unix::fs::symlink(root.join("outside.txt"), data.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("etc")).unwrap();

    let no_files = host.load("hostile", &Grant::default());
    assert_code(
        &call(&no_files, "read_file", json!({ "path": "/data/note.txt" })).await,
        "guest_error",
    );

    let read_only = host.load(
        "hostile",
        &grant(&format!(
            "[[files]]\npath = \"/data\"\nhost_dir = \"{}\"\naccess = \"read\"\n",
            data.display()
        )),
    );
    assert_eq!(
        call(&read_only, "read_file", json!({ "path": "/data/note.txt" }))
            .await
            .unwrap(),
        "inside"
    );
    for escape in [
        "/data/../outside.txt",
        "/data/link",
        "/data/etc/passwd",
        "/etc/passwd",
        "../outside.txt",
    ] {
        let result = call(&read_only, "read_file", json!({ "path": escape })).await;
        let err = assert_code(&result, "guest_error");
        assert!(
            !err.contains("OUTSIDE") && !err.contains("root:"),
            "{escape}: {err}"
        );
    }
    let err = assert_code(
        &call(
            &read_only,
            "write_file",
            json!({ "path": "/data/new.txt", "text": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(
        !data.join("new.txt").exists(),
        "read-only grant wrote a file: {err}"
    );

    let read_write = host.load(
        "hostile",
        &grant(&format!(
            "[[files]]\npath = \"/data\"\nhost_dir = \"{}\"\naccess = \"read-write\"\n",
            data.display()
        )),
    );
    call(
        &read_write,
        "write_file",
        json!({ "path": "/data/new.txt", "text": "written" }),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("new.txt")).unwrap(),
        "written"
    );
    assert_code(
        &call(
            &read_write,
            "write_file",
            json!({ "path": "/data/../escaped.txt", "text": "x" }),
        )
        .await,
        "guest_error",
    );
    assert!(!root.join("escaped.txt").exists());
}

// ---- kv ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_needs_a_grant_and_respects_its_quota() {
    let host = TestHost::new();
    let denied = host.load("hostile", &Grant::default());
    let err = assert_code(
        &call(&denied, "kv_put", json!({ "path": "k", "text": "v" })).await,
        "capability_denied",
    );
    assert!(err.contains("kv"), "{err}");

    let kv = host.load("hostile", &grant("[kv]\nquota_bytes = 100\n"));
    call(&kv, "kv_put", json!({ "path": "k", "text": "value" }))
        .await
        .unwrap();
    assert_eq!(
        call(&kv, "kv_get", json!({ "path": "k" })).await.unwrap(),
        "value"
    );
    let err = assert_code(
        &call(
            &kv,
            "kv_put",
            json!({ "path": "big", "text": "x".repeat(200) }),
        )
        .await,
        "guest_error",
    );
    assert!(err.contains("QuotaExceeded"), "{err}");
    // What was stored before is intact.
    assert_eq!(
        call(&kv, "kv_get", json!({ "path": "k" })).await.unwrap(),
        "value"
    );
    // A grant above the manifest's request (65536) is refused at load.
    let wider = host.sandbox.load_file(
        &crate::common::plugin_path("hostile"),
        &grant("[kv]\nquota_bytes = 1000000\n"),
    );
    assert!(wider.is_err());
}

// ---- config --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_values_are_what_the_operator_set() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &grant("[config]\ngreeting = \"hello\"\n"));
    assert_eq!(
        call(&hostile, "config_get", json!({ "text": "greeting" }))
            .await
            .unwrap(),
        "hello"
    );
    assert_eq!(
        call(&hostile, "config_get", json!({ "text": "anything" }))
            .await
            .unwrap(),
        "<unset>"
    );
    let undeclared = host.sandbox.load_file(
        &crate::common::plugin_path("hostile"),
        &grant("[config]\nsecret_sauce = \"x\"\n"),
    );
    let err = undeclared
        .err()
        .expect("undeclared config key must be refused")
        .to_string();
    assert!(err.contains("secret_sauce"), "{err}");
}
