//! `chitin agent` end to end: the CLI, the agent loop, a sandboxed provider plugin speaking the
//! OpenAI wire protocol to a fake server, a sandboxed tool, failover, and durability.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::plugin_path;
use crate::fakes::openai::FakeOpenAi;
use crate::fakes::proxy::FakeProxy;
use crate::fakes::{Recorded, Responder, fixed};

fn chitin(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(args)
        .env("CHITIN_HOME", home)
        .env_remove("CHITIN_SECRETS_KEY")
        .output()
        .unwrap()
}

async fn chitin_async(home: &Path, args: &[&str]) -> Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        chitin(&home, &args)
    })
    .await
    .unwrap()
}

fn set_secret(home: &Path, name: &str, value: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["secrets", "set", name])
        .env("CHITIN_HOME", home)
        .env_remove("CHITIN_SECRETS_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
}

/// A config with the openai plugin pointed at `primary` (and `fallback`, if given) and the echo
/// tool plugin.
fn write_config(home: &Path, primary: u16, fallback: Option<u16>) {
    let mut outbound = vec![format!("\"http://127.0.0.1:{primary}\"")];
    outbound.extend(fallback.map(|p| format!("\"http://127.0.0.1:{p}\"")));
    let mut config = format!(
        r#"
[plugins.openai]
path = "{openai}"
[plugins.openai.grant]
outbound = [{outbound}]
secrets = [{{ name = "API_KEY", store_key = "OPENAI_KEY", hosts = ["http://127.0.0.1:*"] }}]

[plugins.echo]
path = "{echo}"

[providers.fake]
plugin = "openai"
base_url = "http://127.0.0.1:{primary}/v1"
[providers.fake.models.gpt-fake]
context_window = 16000
max_tokens = 256
cost_input = 1.0
cost_output = 2.0
"#,
        openai = plugin_path("openai").display(),
        echo = plugin_path("echo").display(),
        outbound = outbound.join(", "),
    );
    let fallbacks = match fallback {
        Some(port) => {
            config.push_str(&format!(
                "\n[providers.backup]\nplugin = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n\
                 [providers.backup.models.gpt-backup]\ncontext_window = 16000\n"
            ));
            "[\"backup/gpt-backup\"]"
        }
        None => "[]",
    };
    config.push_str(&format!(
        "\n[agents.main]\nmodel = \"fake/gpt-fake\"\nfallbacks = {fallbacks}\ntimeout_secs = 60\n"
    ));
    std::fs::write(home.join("chitin.toml"), config).unwrap();
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_calls_a_sandboxed_tool_and_answers() {
    let second: Responder = Box::new(|request: &Recorded| {
        let body = request.json();
        let messages = body["messages"].as_array().unwrap();
        let tool = messages
            .iter()
            .find(|m| m["role"] == "tool")
            .expect("the tool result is sent back");
        assert_eq!(tool["tool_call_id"], "call_1");
        assert_eq!(tool["content"], "ping");
        FakeOpenAi::text(&["pong ", "received"], 50, 3, 0)
    });
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::tool_calls(
            &[
                (0, Some(("call_1", "echo")), "{\"te"),
                (0, None, "xt\": \"ping\"}"),
            ],
            "tool_calls",
        )),
        second,
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-test-key-123456");
    write_config(home.path(), fake.server.port(), None);

    let out = chitin_async(
        home.path(),
        &["agent", "-v", "-m", "Use the echo tool to say ping."],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "pong received");
    assert!(
        stderr.contains("[tool] echo {\"text\": \"ping\"}") || stderr.contains("[tool] echo"),
        "{stderr}"
    );

    let requests = fake.server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-key-123456")
    );
    let first = requests[0].json();
    assert_eq!(first["model"], "gpt-fake");
    assert_eq!(first["stream"], true);
    assert!(
        first["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["function"]["name"] == "echo")
    );

    let show = chitin(
        home.path(),
        &["sessions", "show", "agent:main:cli:default:dm:local"],
    );
    let transcript = text(&show.stdout);
    assert!(transcript.contains("-> echo("), "{transcript}");
    assert!(transcript.contains("tool: ping"), "{transcript}");
    assert!(
        transcript.contains("assistant: pong received"),
        "{transcript}"
    );
    let list = text(&chitin(home.path(), &["sessions", "list"]).stdout);
    assert!(
        list.contains("agent:main:cli:default:dm:local\t4 messages"),
        "{list}"
    );
    let models = text(&chitin(home.path(), &["models", "list"]).stdout);
    assert!(
        models.contains("fake/gpt-fake") && models.contains("main (primary)"),
        "{models}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_primary_fails_over_to_the_fallback() {
    let primary = FakeOpenAi::start(vec![fixed(FakeOpenAi::rate_limited(120))]).await;
    let backup = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(
        &["from the backup"],
        10,
        3,
        0,
    ))])
    .await;
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-test-key-123456");
    write_config(
        home.path(),
        primary.server.port(),
        Some(backup.server.port()),
    );
    let out = chitin_async(home.path(), &["agent", "-m", "hello"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "from the backup");
    assert!(
        stderr.contains("[failover] fake/gpt-fake -> backup/gpt-backup: rate limited"),
        "{stderr}"
    );
    // The secret's audience covers both servers.
    assert_eq!(
        backup.server.request().header("authorization"),
        Some("Bearer sk-test-key-123456")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_failing_is_a_clear_nonzero_exit() {
    let primary = FakeOpenAi::start(vec![fixed(FakeOpenAi::error(
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
        "Incorrect API key provided.",
    ))])
    .await;
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-revoked-key-000");
    write_config(home.path(), primary.server.port(), None);
    let out = chitin_async(home.path(), &["agent", "-m", "hello"]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("every model failed: fake/gpt-fake: authentication failed"),
        "{stderr}"
    );
    // The message was accepted and kept.
    let transcript = text(
        &chitin(
            home.path(),
            &["sessions", "show", "agent:main:cli:default:dm:local"],
        )
        .stdout,
    );
    assert!(transcript.contains("1 user: hello"), "{transcript}");
}

/// kill -9 while the provider is still thinking: the accepted message is on disk.
#[test]
fn an_accepted_message_survives_kill_9() {
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-test-key-123456");
    write_config(home.path(), port, None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["agent", "-m", "remember this message"])
        .env("CHITIN_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Generous: the agent compiles its plugins first, and other tests (Python and JavaScript
    // plugins take ~35 s of CPU to compile) may be competing for the two cores.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let show = chitin(
            home.path(),
            &["sessions", "show", "agent:main:cli:default:dm:local"],
        );
        if text(&show.stdout).contains("remember this message") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the message never reached the store"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no destructor, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(silent);
    let show = chitin(
        home.path(),
        &["sessions", "show", "agent:main:cli:default:dm:local"],
    );
    assert!(
        text(&show.stdout).contains("1 user: remember this message"),
        "{}",
        text(&show.stdout)
    );
}

/// A skill that carries a .wasm tool: the tool is loaded into the sandbox (with nothing granted,
/// since the operator wrote no grant for it) and offered to the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_can_carry_a_sandboxed_tool() {
    let check: Responder = Box::new(|request: &Recorded| {
        let body = request.json();
        let tools: Vec<String> = body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert!(tools.contains(&"hunt_secrets".to_string()), "{tools:?}");
        let system = body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(system.contains("<name>sandbox-probe</name>"), "{system}");
        FakeOpenAi::text(&["seen"], 10, 1, 0)
    });
    let fake = FakeOpenAi::start(vec![check]).await;
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-test-key-123456");
    write_config(home.path(), fake.server.port(), None);
    let skill = home.path().join("workspace-main/skills/sandbox-probe");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: sandbox-probe\ndescription: Probes the sandbox.\n---\nCall hunt_secrets.\n",
    )
    .unwrap();
    std::fs::copy(plugin_path("hostile"), skill.join("probe.wasm")).unwrap();
    let out = chitin_async(home.path(), &["agent", "-m", "probe"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "seen");
}

/// `[providers.<id>] proxy`: the provider plugin's requests go through the operator's HTTP
/// proxy (the plugin is not told), with the grant and the secret's audience applied to the
/// vendor's URL as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_a_proxy_is_reached_through_it() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(
        &["via ", "the proxy"],
        10,
        3,
        0,
    ))])
    .await;
    let proxy = FakeProxy::start().await;
    let port = fake.server.port();
    let home = tempfile::tempdir().unwrap();
    set_secret(home.path(), "OPENAI_KEY", "sk-test-key-123456");
    write_config(home.path(), port, None);
    let path = home.path().join("chitin.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let base_url = format!("base_url = \"http://127.0.0.1:{port}/v1\"\n");
    assert!(config.contains(&base_url), "{config}");
    let with_proxy =
        |proxy: &str| config.replacen(&base_url, &format!("{base_url}proxy = \"{proxy}\"\n"), 1);
    std::fs::write(&path, with_proxy(&proxy.url())).unwrap();

    let out = chitin_async(home.path(), &["agent", "-m", "hello"]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "via the proxy");
    let proxied = proxy.requests();
    assert_eq!(proxied.len(), 1, "{proxied:?}");
    assert_eq!(proxied[0].method, "POST");
    assert!(
        proxied[0]
            .target
            .starts_with(&format!("http://127.0.0.1:{port}/v1/")),
        "{}",
        proxied[0].target
    );
    // The secret went to its audience (through the proxy); nothing was addressed to the proxy.
    assert_eq!(
        proxied[0].header("authorization"),
        Some("Bearer sk-test-key-123456")
    );
    assert_eq!(proxied[0].header("proxy-authorization"), None);
    let reached = fake.server.request();
    assert!(reached.target.starts_with("/v1/"), "{}", reached.target);
    assert_eq!(reached.json()["model"], "gpt-fake");

    // A proxy that is not an http://host:port URL is refused with the key to fix.
    std::fs::write(&path, with_proxy("127.0.0.1:3128")).unwrap();
    let out = chitin_async(home.path(), &["agent", "-m", "hello"]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[providers.fake] proxy"), "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:3128"), "{stderr}");
    assert_eq!(proxy.requests().len(), 1);
}
