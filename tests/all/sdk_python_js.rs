//! The Python and JavaScript SDKs: their example plugins (sdk/python/examples, sdk/js/examples),
//! built by `./dev build-plugins` with componentize-py and componentize-js, run in the sandbox
//! like any other plugin. The working tools answer, reach the network only through the host and
//! only when granted; the runaway ones are stopped by fuel, time and memory while the host keeps
//! serving; warm instances are reused, and a trapped one never is. The templates `chitin plugin
//! new` copies are checked against the examples, and the SDKs' own unit tests run natively.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chitin_manifest::{Grant, Language, Manifest, PluginKind, SUPPORTED_WIT_VERSIONS};
use chitin_sandbox::{InstanceMode, Plugin};
use serde_json::{Value, json};

use crate::common::{TestHost, TestServer, assert_code, call, cx, grant, repo_root};

/// Loads a packed plugin. Compiling a Python or JS component takes ~35 s of CPU, so the first
/// test process to load one compiles it under a lock while the others wait for the cached
/// artifact (nextest runs tests as parallel processes) instead of compiling it again.
fn load(host: &TestHost, id: &str, grant: &Grant) -> Plugin {
    let locks = repo_root().join("target/test-aot-locks");
    std::fs::create_dir_all(&locks).unwrap();
    let lock = std::fs::File::create(locks.join(format!("{id}.lock"))).unwrap();
    lock.lock().unwrap();
    host.load(id, grant)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

async fn tool_names(plugin: &Plugin) -> Vec<String> {
    let specs = plugin.describe_tools().await.unwrap();
    for spec in &specs {
        let schema = json_of(&spec.parameters_schema);
        assert_eq!(schema["type"], "object", "{}: {schema}", spec.name);
        assert!(!spec.description.is_empty(), "{}", spec.name);
    }
    specs.into_iter().map(|s| s.name).collect()
}

/// The guest's message of a failed call, checked to be a plain guest error.
async fn guest_error(plugin: &Plugin, tool: &str, args: Value) -> String {
    assert_code(&call(plugin, tool, args).await, "guest_error")
}

// ---- Python: py-wordcount ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tool_counts_words_and_explains_bad_arguments() {
    let host = TestHost::new();
    let wc = load(&host, "py-wordcount", &Grant::default());
    assert_eq!(wc.manifest().language, Language::Python);
    assert_eq!(wc.instance_mode(), InstanceMode::Warm);
    assert_eq!(tool_names(&wc).await, ["word_count"]);

    let out = wc
        .call_tool(
            "word_count",
            &json!({ "text": "The cat and the hat.\nThe end", "top": 2 }).to_string(),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.content_type, "application/json");
    assert_eq!(
        json_of(&out.content),
        json!({ "words": 7, "lines": 2, "characters": 28, "top": [["the", 3], ["cat", 1]] })
    );
    // Without `top`, the default (5) applies; Unicode words count as words.
    let out = call(
        &wc,
        "word_count",
        json!({ "text": "Grüße, naïve café — déjà vu" }),
    )
    .await
    .unwrap();
    assert_eq!(json_of(&out)["words"], 5, "{out}");

    // The SDK checks the arguments against the schema and says what to change.
    let cases = [
        (
            json!({ "text": "a", "url": "http://x" }),
            "invalid arguments: give exactly one of `text` and `url`",
        ),
        (
            json!({ "text": "a", "top": "3" }),
            "invalid arguments: arguments.top must be of type integer, not string",
        ),
        (
            json!({ "text": "a", "top": 99 }),
            "invalid arguments: arguments.top must be at most 50, not 99",
        ),
        (
            json!({ "text": "a", "colour": "red" }),
            "invalid arguments: arguments has unknown properties `colour`",
        ),
    ];
    for (args, expected) in cases {
        let err = guest_error(&wc, "word_count", args.clone()).await;
        assert!(err.contains(expected), "{args}: {err}");
    }
    let err = assert_code(
        &wc.call_tool("word_count", "{not json", &cx())
            .await
            .map(|o| o.content),
        "guest_error",
    );
    assert!(
        err.contains("invalid arguments: arguments are not valid JSON"),
        "{err}"
    );
    let err = guest_error(&wc, "word_cont", json!({})).await;
    assert!(
        err.contains("unknown tool: no tool named `word_cont` (this plugin has: word_count)"),
        "{err}"
    );

    // The operator's config reaches the plugin.
    let configured = load(
        &host,
        "py-wordcount",
        &grant("config = { top_words = \"1\" }"),
    );
    let out = call(&configured, "word_count", json!({ "text": "b a b" }))
        .await
        .unwrap();
    assert_eq!(json_of(&out)["top"], json!([["b", 2]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tool_fetches_through_the_host_only_when_granted() {
    let server = TestServer::start().await;
    let host = TestHost::new();

    let ungranted = load(&host, "py-wordcount", &Grant::default());
    let err = assert_code(
        &call(
            &ungranted,
            "word_count",
            json!({ "url": server.url("/page") }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("outbound HTTP"), "{err}");
    assert!(
        server.requests().is_empty(),
        "a denied request never leaves the host"
    );

    let wc = load(
        &host,
        "py-wordcount",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    // An HTML page is counted without its tags, head and scripts.
    let out = call(&wc, "word_count", json!({ "url": server.url("/page") }))
        .await
        .unwrap();
    let counted = json_of(&out);
    assert_eq!(counted["words"], 3, "{out}");
    assert_eq!(counted["top"], json!([["hi", 1], ["some", 1], ["text", 1]]));
    let out = call(&wc, "word_count", json!({ "url": server.url("/hello") }))
        .await
        .unwrap();
    assert_eq!(json_of(&out)["words"], 5, "{out}");
    assert_eq!(server.requests().len(), 2);
    let err = guest_error(&wc, "word_count", json!({ "url": server.url("/missing") })).await;
    assert!(err.contains("answered HTTP 404"), "{err}");
    // A host the grant does not name is refused, though the manifest could ask for it.
    let err = assert_code(
        &call(
            &wc,
            "word_count",
            json!({ "url": "http://127.0.0.2:9/page" }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("127.0.0.2"), "{err}");
}

// ---- JavaScript: js-slugify ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_tool_slugifies_and_explains_bad_arguments() {
    let host = TestHost::new();
    let slug = load(&host, "js-slugify", &Grant::default());
    assert_eq!(slug.manifest().language, Language::Js);
    assert_eq!(slug.instance_mode(), InstanceMode::Warm);
    assert_eq!(
        tool_names(&slug).await,
        ["slugify", "slug_unique", "page_slug"]
    );

    let out = slug
        .call_tool(
            "slugify",
            &json!({ "text": "Crème Brûlée: Straße & Ærø — 2024!" }).to_string(),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.content, "creme-brulee-strasse-aero-2024");
    assert_eq!(out.content_type, "text/plain");
    let out = call(
        &slug,
        "slugify",
        json!({ "text": "Crème Brûlée: Straße", "max_length": 12 }),
    )
    .await
    .unwrap();
    assert_eq!(out, "creme-brulee");

    let cases = [
        (
            json!({ "text": 5 }),
            "invalid arguments: arguments.text must be of type string, not integer",
        ),
        (
            json!({}),
            "invalid arguments: arguments is missing the required property `text`",
        ),
        (
            json!({ "text": "" }),
            "invalid arguments: arguments.text must have at least 1 characters",
        ),
        (
            json!({ "text": "a", "max_length": 0 }),
            "invalid arguments: arguments.max_length must be at least 1, not 0",
        ),
        (
            json!({ "text": "!!!" }),
            "\"!!!\" has no letters or digits to make a slug of",
        ),
    ];
    for (args, expected) in cases {
        let err = guest_error(&slug, "slugify", args.clone()).await;
        assert!(err.contains(expected), "{args}: {err}");
    }
    let err = guest_error(&slug, "slugfy", json!({})).await;
    assert!(
        err.contains("unknown tool: no tool named `slugfy`"),
        "{err}"
    );

    // The operator's config reaches the plugin.
    let configured = load(
        &host,
        "js-slugify",
        &grant("config = { separator = \"_\" }"),
    );
    let out = call(&configured, "slugify", json!({ "text": "Hello, World" }))
        .await
        .unwrap();
    assert_eq!(out, "hello_world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_tool_keeps_its_slugs_in_kv_only_when_granted() {
    let host = TestHost::new();
    let ungranted = load(&host, "js-slugify", &Grant::default());
    let err = assert_code(
        &call(&ungranted, "slug_unique", json!({ "text": "Hello World" })).await,
        "capability_denied",
    );
    assert!(err.contains("kv"), "{err}");

    let slug = load(&host, "js-slugify", &grant("kv = { quota_bytes = 65536 }"));
    for expected in ["hello-world", "hello-world-2", "hello-world-3"] {
        let out = call(&slug, "slug_unique", json!({ "text": "Hello World" }))
            .await
            .unwrap();
        assert_eq!(out, expected);
    }
    // The namespace outlives instances: a second load of the plugin sees the same slugs.
    let again = load(&host, "js-slugify", &grant("kv = { quota_bytes = 65536 }"));
    let out = call(&again, "slug_unique", json!({ "text": "hello world!" }))
        .await
        .unwrap();
    assert_eq!(out, "hello-world-4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_tool_fetches_through_the_host_only_when_granted() {
    let server = TestServer::start().await;
    let host = TestHost::new();

    let ungranted = load(&host, "js-slugify", &Grant::default());
    let err = assert_code(
        &call(
            &ungranted,
            "page_slug",
            json!({ "url": server.url("/page") }),
        )
        .await,
        "capability_denied",
    );
    assert!(err.contains("outbound HTTP"), "{err}");
    assert!(server.requests().is_empty());

    let slug = load(
        &host,
        "js-slugify",
        &grant(&format!(
            "outbound = [\"http://127.0.0.1:{}\"]",
            server.port()
        )),
    );
    let out = call(&slug, "page_slug", json!({ "url": server.url("/page") }))
        .await
        .unwrap();
    assert_eq!(
        json_of(&out),
        json!({ "title": "Test page", "slug": "test-page" })
    );
    assert_eq!(server.requests().len(), 1);
    assert!(server.requests()[0].starts_with("GET /page HTTP/1.1"));
    let err = guest_error(&slug, "page_slug", json!({ "url": server.url("/hello") })).await;
    assert!(err.contains("has no <title>"), "{err}");
}

// ---- Runaway plugins (py-runaway, js-runaway) ----------------------------------------------

/// `spin` runs out of fuel under the manifest's budget, and out of time when the grant gives it
/// ample fuel; meanwhile a well-behaved plugin keeps answering, and afterwards so does the
/// runaway one.
async fn spin_is_stopped_while_others_keep_serving(id: &str, fuel: u64) {
    let host = TestHost::new();
    let echo = Arc::new(host.load("echo", &Grant::default()));
    let runaway = Arc::new(load(&host, id, &Grant::default()));
    // Warm it up, so that the spinning call below is the only slow thing.
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");

    let spinning = {
        let runaway = runaway.clone();
        tokio::spawn(async move { call(&runaway, "spin", json!({})).await })
    };
    let mut answered = 0;
    while !spinning.is_finished() {
        let out = call(&echo, "echo", json!({ "text": "still here" })).await;
        assert_eq!(out.unwrap(), "still here");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = assert_code(&spinning.await.unwrap(), "out_of_fuel");
    assert!(
        err.contains(&format!("ran out of fuel (budget {fuel} instructions)")),
        "{err}"
    );
    assert!(answered > 0, "echo answered while {id} spun");

    let timed = load(
        &host,
        id,
        &grant("[budgets]\nfuel = 50_000_000_000\ntimeout_ms = 400\n"),
    );
    let started = Instant::now();
    let err = assert_code(&call(&timed, "spin", json!({})).await, "deadline_exceeded");
    assert!(err.contains("time limit of 400ms"), "{err}");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");
    assert_eq!(call(&timed, "calls", json!({})).await.unwrap(), "1");
    let out = call(&echo, "echo", json!({ "text": "after" })).await;
    assert_eq!(out.unwrap(), "after");
}

/// `hog` reaches the memory limit; the host, the plugin and its neighbours keep working.
async fn hog_is_stopped_by_the_memory_limit(id: &str) {
    let host = TestHost::new();
    let echo = host.load("echo", &Grant::default());
    let runaway = load(&host, id, &Grant::default());
    let err = assert_code(&call(&runaway, "hog", json!({})).await, "memory_limit");
    assert!(err.contains("memory limit of 64 MiB"), "{err}");
    assert!(err.contains("budgets.memory_mb"), "{err}");
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");
    let out = call(&echo, "echo", json!({ "text": "after" })).await;
    assert_eq!(out.unwrap(), "after");
    // A larger grant moves the limit.
    let roomier = load(&host, id, &grant("[budgets]\nmemory_mb = 96\n"));
    let err = assert_code(&call(&roomier, "hog", json!({})).await, "memory_limit");
    assert!(err.contains("memory limit of 96 MiB"), "{err}");
}

/// Calls reuse the idle warm instance (its module state shows it); a call that traps drops its
/// instance, so the next call starts from a fresh one; a tool error does not.
async fn warm_instances_are_reused_and_trapped_ones_dropped(id: &str) {
    let host = TestHost::new();
    let runaway = load(&host, id, &Grant::default());
    assert_eq!(runaway.instance_mode(), InstanceMode::Warm);
    assert_eq!(runaway.warm_instances(), 0);

    let started = Instant::now();
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");
    let first = started.elapsed();
    assert_eq!(runaway.warm_instances(), 1);
    let started = Instant::now();
    for n in 2..=20 {
        let out = call(&runaway, "calls", json!({})).await.unwrap();
        assert_eq!(out, n.to_string(), "the same instance served call {n}");
    }
    let warm = started.elapsed() / 19;
    assert_eq!(runaway.warm_instances(), 1);
    eprintln!("{id}: first call (instantiate + call) {first:?}, warm call {warm:?}");

    // A tool error is an answer, not a fault: the instance stays.
    guest_error(&runaway, "no_such_tool", json!({})).await;
    assert_eq!(runaway.warm_instances(), 1);
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "21");

    // A trap drops it.
    assert_code(&call(&runaway, "spin", json!({})).await, "out_of_fuel");
    assert_eq!(runaway.warm_instances(), 0);
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");
    assert_code(&call(&runaway, "hog", json!({})).await, "memory_limit");
    assert_eq!(runaway.warm_instances(), 0);
    assert_eq!(call(&runaway, "calls", json!({})).await.unwrap(), "1");
    assert_eq!(runaway.warm_instances(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_spin_is_stopped_by_fuel_and_time_while_others_keep_serving() {
    spin_is_stopped_while_others_keep_serving("py-runaway", 200_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hog_is_stopped_by_the_memory_limit() {
    hog_is_stopped_by_the_memory_limit("py-runaway").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_warm_instances_are_reused_and_trapped_ones_dropped() {
    warm_instances_are_reused_and_trapped_ones_dropped("py-runaway").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_spin_is_stopped_by_fuel_and_time_while_others_keep_serving() {
    spin_is_stopped_while_others_keep_serving("js-runaway", 500_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_hog_is_stopped_by_the_memory_limit() {
    hog_is_stopped_by_the_memory_limit("js-runaway").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_warm_instances_are_reused_and_trapped_ones_dropped() {
    warm_instances_are_reused_and_trapped_ones_dropped("js-runaway").await;
}

// ---- Templates and the SDKs' own tests -----------------------------------------------------

/// What `chitin plugin new` makes of a template file.
fn instantiate_template(text: &str) -> String {
    text.replace("{{id}}", "my-tool")
        .replace("{{name}}", "My tool")
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

fn check_template(lang: &str, source: &str, language: Language, examples: &[&str]) {
    let sdk = repo_root().join("sdk").join(lang);
    let template = sdk.join("template");
    for file in ["plugin.toml", source, "build.sh", "README.md"] {
        assert!(template.join(file).exists(), "{lang} template lacks {file}");
    }
    let manifest = Manifest::from_toml(&instantiate_template(
        &std::fs::read_to_string(template.join("plugin.toml")).unwrap(),
    ))
    .unwrap_or_else(|err| panic!("{lang} template's plugin.toml: {err}"));
    assert_eq!(manifest.id, "my-tool");
    assert_eq!(manifest.name, "My tool");
    assert_eq!(manifest.kind, PluginKind::Tool);
    assert_eq!(manifest.language, language);
    assert!(
        SUPPORTED_WIT_VERSIONS.contains(&manifest.wit_version.as_str()),
        "{lang} template targets chitin:plugin@{}",
        manifest.wit_version
    );
    // The examples are built by CI with the very build.sh the template ships.
    let build = std::fs::read(template.join("build.sh")).unwrap();
    for example in examples {
        let path = sdk.join("examples").join(example).join("build.sh");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            build,
            "{} differs from the template's build.sh",
            path.display()
        );
        assert_executable(&path);
    }
    assert_executable(&template.join("build.sh"));
    // No placeholder is left unsubstituted in a file the command copies.
    for entry in std::fs::read_dir(&template).unwrap() {
        let path = entry.unwrap().path();
        let text = instantiate_template(&std::fs::read_to_string(&path).unwrap());
        assert!(!text.contains("{{id}}") && !text.contains("{{name}}"));
    }
}

fn assert_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{} is not executable", path.display());
}

#[test]
fn python_template_is_a_complete_plugin_built_like_the_examples() {
    check_template(
        "python",
        "app.py",
        Language::Python,
        &["py-wordcount", "py-runaway"],
    );
    // The template's app is valid Python and runs natively against the SDK.
    let template = repo_root().join("sdk/python/template");
    let app = instantiate_template(&std::fs::read_to_string(template.join("app.py")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(
            "import json, app, chitin_sdk as c\n\
             print(json.dumps([s.name for s in app.Tool().describe()]))",
        )
        .current_dir(dir.path())
        .env("PYTHONPATH", repo_root().join("sdk/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    assert!(json_of(out.trim()).is_array(), "{out}");
}

#[test]
fn js_template_is_a_complete_plugin_built_like_the_examples() {
    check_template("js", "app.js", Language::Js, &["js-slugify", "js-runaway"]);
    // The template's app is valid JavaScript and runs natively against the SDK, which a
    // `node_modules/chitin-sdk` link makes resolvable as it is in the build.
    let app = instantiate_template(
        &std::fs::read_to_string(repo_root().join("sdk/js/template/app.js")).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.js"), app).unwrap();
    std::fs::write(dir.path().join("package.json"), "{\"type\": \"module\"}").unwrap();
    std::fs::create_dir(dir.path().join("node_modules")).unwrap();
    std::os::unix::fs::symlink(
        repo_root().join("sdk/js"),
        dir.path().join("node_modules/chitin-sdk"),
    )
    .unwrap();
    let out = run(Command::new("node")
        .arg("--input-type=module")
        .arg("-e")
        .arg(
            "const app = await import('./app.js');\n\
             console.log(JSON.stringify(app.tool.describe().map((s) => s.name)));",
        )
        .current_dir(dir.path()));
    assert!(json_of(out.trim()).is_array(), "{out}");
}

#[test]
fn python_sdk_unit_tests_pass() {
    let sdk = repo_root().join("sdk/python");
    run(Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(&sdk)
        .env("PYTHONDONTWRITEBYTECODE", "1"));
}

#[test]
fn js_sdk_unit_tests_pass() {
    let sdk = repo_root().join("sdk/js");
    run(Command::new("node")
        .args(["--test", "test/"])
        .current_dir(&sdk));
}
