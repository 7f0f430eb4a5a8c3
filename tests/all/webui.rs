//! The web UI in a real browser: headless Chromium (Debian's package, driven by playwright-core
//! from npm; `tests/support/chromium.sh` installs both) logs in to a real `chitin gateway`, chats
//! with an agent whose tool call needs an operator's approval, watches the reply stream in, and
//! reads the Plugins and Pairing tabs. The browser side is `tests/support/webui/webui.test.mjs`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::repo_root;
use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;
use crate::gateway::write_approval_config;

const TOKEN: &str = "webui-test-token-5a7c9e1b3d";
/// What the echo tool is asked to repeat, and so the tool card's output.
const TOOL_TEXT: &str = "ping from the browser test";
const TOOL_ARGUMENTS: &str = r#"{"text": "ping from the browser test"}"#;
/// The model's answer after the tool call, streamed in these pieces.
const REPLY: [&str; 4] = [
    "The echo tool ",
    "said: ping.",
    " Streamed in",
    " four pieces.",
];

struct Gateway {
    child: Child,
    url: String,
    /// The gateway's stderr (a file, so a chatty gateway never blocks on a full pipe).
    log: PathBuf,
}

impl Gateway {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(home: &Path) -> Gateway {
    let log = home.join("gateway.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["gateway", "--port", "0"])
        .env("CHITIN_HOME", home)
        .env("CHITIN_GATEWAY_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(url) = line.trim().strip_prefix("chitin gateway listening on ") else {
        let _ = child.wait();
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("the gateway did not start: {line}{stderr}");
    };
    Gateway {
        url: url.to_string(),
        child,
        log,
    }
}

/// Installs Chromium and playwright-core if needed; returns the browser's path. A machine that
/// cannot set them up fails the test rather than skipping it.
fn chromium() -> String {
    let out = Command::new(repo_root().join("tests/support/chromium.sh"))
        .output()
        .expect("running tests/support/chromium.sh");
    assert!(
        out.status.success(),
        "tests/support/chromium.sh failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs webui.test.mjs; returns its exit code (`None`: killed after the deadline), stdout and
/// stderr. Each of its steps has its own 15 s limit; the deadline only catches a hung browser.
fn browser_test(url: &str, chromium: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/support/webui/webui.test.mjs"))
        .args([url, TOKEN, &REPLY.concat(), TOOL_TEXT])
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node (Node.js 20+ is needed for the web UI test)");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_chats_approves_a_tool_and_pairs_a_sender() {
    let chromium = tokio::task::spawn_blocking(chromium).await.unwrap();
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::tool_calls(
            &[(0, Some(("call_1", "echo")), TOOL_ARGUMENTS)],
            "tool_calls",
        )),
        fixed(FakeOpenAi::text(&REPLY, 40, 8, 0)),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    write_approval_config(home.path(), fake.server.port(), "");
    // A sender waiting to be paired, as a channel would have recorded it.
    let store = chitin_store::Store::open(&home.path().join("chitin.db")).unwrap();
    {
        let request = store
            .pairing_request(
                "telegram",
                "12345",
                Some("Alice"),
                Duration::from_secs(3600),
            )
            .unwrap()
            .expect("a pairing request");
        assert!(!request.code.is_empty());
    }
    let gateway = {
        let home = home.path().to_path_buf();
        tokio::task::spawn_blocking(move || start_gateway(&home))
            .await
            .unwrap()
    };

    let url = gateway.url.clone();
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || browser_test(&url, &chromium))
            .await
            .unwrap();
    println!("{stdout}");
    assert!(
        status == Some(0),
        "the browser test failed (exit {status:?}):\n{stdout}\n{stderr}\n\
         (screenshot: target/webui-failure.png)\ngateway log:\n{}",
        gateway.log()
    );
    assert!(
        stdout.contains("webui: all 10 steps passed"),
        "{stdout}\n{stderr}"
    );

    // One request for the tool call, one with the approved tool's result for the answer.
    let requests = fake.server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let messages = requests[1].json()["messages"].clone();
    let tool = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap_or_else(|| panic!("the tool's result was not sent back: {messages}"));
    assert_eq!(tool["content"], TOOL_TEXT, "{messages}");
    // The Approve click in the Pairing tab reached the store.
    assert!(store.pairing_is_approved("telegram", "12345").unwrap());
    drop(gateway);
}
