//! The gateway's WebSocket protocol (docs/protocol.md) against the real `chitin gateway`:
//! the handshake and its refusals, malformed, oversized, binary and silent clients, every
//! method, the events, approvals and pairing, config compare-and-swap, the CLI clients, and a
//! graceful stop that drains runs.

use std::collections::VecDeque;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;
use crate::gateway::{Gateway, TOKEN, echo_call, start, write_approval_config as write_config};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const STEP: Duration = Duration::from_secs(60);

/// A protocol client that keeps the events it sees while waiting for answers.
struct Ws {
    socket: Socket,
    next_id: u64,
    events: VecDeque<Value>,
    /// Every frame received, to check sequence numbers.
    seqs: Vec<u64>,
}

impl Ws {
    async fn open(url: &str) -> Ws {
        let ws_url = format!("{}/ws", url.replace("http://", "ws://"));
        let (socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        Ws {
            socket,
            next_id: 0,
            events: VecDeque::new(),
            seqs: Vec::new(),
        }
    }

    async fn connected(url: &str) -> Ws {
        let mut ws = Ws::open(url).await;
        let hello = ws.connect(Some(TOKEN)).await;
        assert_eq!(hello["ok"], true, "{hello}");
        ws
    }

    async fn connect(&mut self, token: Option<&str>) -> Value {
        let mut params = json!({"minProtocol": 1, "maxProtocol": 1, "client": {"name": "test"}});
        if let Some(token) = token {
            params["auth"] = json!({"token": token});
        }
        self.request("connect", params).await
    }

    async fn send_text(&mut self, text: String) {
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next text frame as JSON; `None` once the server closed (with the close frame).
    async fn frame(&mut self) -> Result<Value, Option<(u16, String)>> {
        loop {
            let message = tokio::time::timeout(STEP, self.socket.next())
                .await
                .expect("no frame from the gateway within 60 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if let Some(seq) = frame["seq"].as_u64() {
                        self.seqs.push(seq);
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The next response frame (events meanwhile are kept).
    async fn response(&mut self) -> Value {
        loop {
            let frame = self
                .frame()
                .await
                .unwrap_or_else(|close| panic!("closed while waiting for a response: {close:?}"));
            if frame["type"] == "res" {
                return frame;
            }
            self.events.push_back(frame);
        }
    }

    /// Sends a request and returns the whole response frame.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id.to_string();
        self.send_text(
            json!({"type": "req", "id": id, "method": method, "params": params}).to_string(),
        )
        .await;
        loop {
            let frame = self
                .frame()
                .await
                .unwrap_or_else(|close| panic!("closed while waiting for {method}: {close:?}"));
            if frame["type"] == "res" && frame["id"] == id.as_str() {
                return frame;
            }
            if frame["type"] == "event" {
                self.events.push_back(frame);
            }
        }
    }

    /// The payload of a successful call.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let frame = self.request(method, params).await;
        assert_eq!(frame["ok"], true, "{method} failed: {frame}");
        frame["payload"].clone()
    }

    /// The error of a failed call.
    async fn error(&mut self, method: &str, params: Value) -> Value {
        let frame = self.request(method, params).await;
        assert_eq!(frame["ok"], false, "{method} should fail: {frame}");
        frame["error"].clone()
    }

    /// The first event (buffered or new) matching `pred`.
    async fn event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.events.iter().position(&pred) {
            return self.events.remove(at).unwrap();
        }
        loop {
            let frame = self
                .frame()
                .await
                .unwrap_or_else(|close| panic!("closed while waiting for {what}: {close:?}"));
            if frame["type"] == "event" {
                if pred(&frame) {
                    return frame;
                }
                self.events.push_back(frame);
            }
        }
    }

    /// The `agent` events of one run up to and including its `done` or `error`.
    async fn run_events(&mut self, run_id: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .event("an agent event", |e| {
                    e["event"] == "agent" && e["payload"]["runId"] == run_id
                })
                .await;
            let kind = event["payload"]["kind"].as_str().unwrap().to_string();
            seen.push(event["payload"].clone());
            if kind == "done" || kind == "error" {
                return seen;
            }
        }
    }

    /// Runs a turn in the agent's main session and returns its events up to the end.
    async fn run(&mut self, message: &str) -> Vec<Value> {
        let started = self
            .call("agent.run", json!({"agent": "main", "message": message}))
            .await;
        let run_id = started["runId"].as_str().unwrap().to_string();
        self.run_events(&run_id).await
    }

    /// The next `approval` event announcing a request (the whole frame).
    async fn approval_requested(&mut self) -> Value {
        self.event("approval requested", |e| {
            e["event"] == "approval" && e["payload"]["kind"] == "requested"
        })
        .await
    }

    /// Waits for the server to close; returns the close code and reason.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.frame().await {
                Ok(_) => continue,
                Err(Some(close)) => return close,
                Err(None) => return (1006, String::new()),
            }
        }
    }
}

async fn gateway(provider_port: u16, extra: &str) -> (tempfile::TempDir, Gateway) {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), provider_port, extra);
    let path = home.path().to_path_buf();
    let gateway = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();
    (home, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_comes_first_and_checks_the_token() {
    let fake = FakeOpenAi::start(vec![]).await;
    let (_home, gw) = gateway(fake.server.port(), "connect_timeout_ms = 300").await;

    // A method before connect.
    let mut ws = Ws::open(&gw.url).await;
    let error = ws.error("status", json!({})).await;
    assert_eq!(error["code"], "CONNECT_REQUIRED", "{error}");
    assert_eq!(ws.closed().await.0, 1008);

    // A wrong token, then no token.
    for token in [Some("wrong"), None] {
        let mut ws = Ws::open(&gw.url).await;
        let answer = ws.connect(token).await;
        assert_eq!(answer["error"]["code"], "UNAUTHORIZED", "{answer}");
        assert_eq!(answer["error"]["retryable"], false);
        assert_eq!(ws.closed().await.0, 1008);
    }

    // No common protocol version.
    let mut ws = Ws::open(&gw.url).await;
    let answer = ws
        .request(
            "connect",
            json!({"minProtocol": 2, "maxProtocol": 3, "auth": {"token": TOKEN}}),
        )
        .await;
    assert_eq!(answer["error"]["code"], "PROTOCOL_MISMATCH", "{answer}");
    assert_eq!(ws.closed().await.0, 1002);

    // Silence after the upgrade.
    let mut ws = Ws::open(&gw.url).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("connect timeout"), "{reason}");

    // The right token: the hello lists what the server offers.
    let mut ws = Ws::open(&gw.url).await;
    let hello = ws.connect(Some(TOKEN)).await;
    let payload = &hello["payload"];
    assert_eq!(payload["protocol"], 1, "{hello}");
    assert!(
        payload["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("approvals.resolve"))
    );
    assert_eq!(payload["agents"][0]["id"], "main");
    assert_eq!(payload["limits"]["maxFrameBytes"], 1024 * 1024);
    // connect twice is refused without dropping the connection.
    let again = ws.connect(Some(TOKEN)).await;
    assert_eq!(again["error"]["code"], "INVALID_REQUEST");
    assert_eq!(ws.call("health", json!({})).await["ok"], true);

    // Failures are rate-limited per address (shared with the HTTP API): two failures above
    // plus eight more reach the limit, and then even the right token is refused for a while.
    for _ in 0..8 {
        let mut ws = Ws::open(&gw.url).await;
        ws.connect(Some("wrong")).await;
    }
    let mut ws = Ws::open(&gw.url).await;
    let locked = ws.connect(Some(TOKEN)).await;
    assert_eq!(locked["error"]["code"], "RATE_LIMITED", "{locked}");
    assert!(locked["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    assert_eq!(locked["error"]["retryable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_clear_errors_and_abusive_ones_close_the_connection() {
    let fake = FakeOpenAi::start(vec![]).await;
    let (_home, gw) = gateway(
        fake.server.port(),
        "max_frame_bytes = 65536\ntick_interval_ms = 200",
    )
    .await;
    let mut ws = Ws::connected(&gw.url).await;

    // Not JSON, no id, wrong type, bad params, unknown method, bad param types: each answered,
    // the connection stays usable.
    ws.send_text("{not json".into()).await;
    let frame = ws.response().await;
    assert_eq!(frame["id"], Value::Null);
    assert_eq!(frame["error"]["code"], "INVALID_REQUEST", "{frame}");
    ws.send_text(r#"{"type":"req","method":"status"}"#.into())
        .await;
    let frame = ws.response().await;
    assert!(frame["error"]["message"].as_str().unwrap().contains("`id`"));
    let error = ws.error("no.such.method", json!({})).await;
    assert_eq!(error["code"], "UNKNOWN_METHOD");
    assert!(error["details"]["methods"].as_array().unwrap().len() >= 20);
    let error = ws.error("chat.history", json!({"sessionKey": 7})).await;
    assert_eq!(error["code"], "INVALID_REQUEST");
    assert!(
        error["message"].as_str().unwrap().contains("sessionKey"),
        "{error}"
    );
    let error = ws.error("agent.run", json!({"agent": "main"})).await;
    assert!(
        error["message"].as_str().unwrap().contains("message"),
        "{error}"
    );
    let error = ws
        .error(
            "chat.send",
            json!({"sessionKey": "not-a-key", "message": "hi"}),
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("agent:<agent id>"),
        "{error}"
    );

    // A client that reads (and so answers pings) stays connected across several ticks, and
    // the ticks are numbered without gaps.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        ws.event("a tick", |e| e["event"] == "tick").await;
    }
    assert_eq!(ws.call("health", json!({})).await["ok"], true);
    let seqs = ws.seqs.clone();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "event seq has gaps: {seqs:?}"
    );

    // Oversized.
    ws.send_text(format!(
        r#"{{"type":"req","id":"big","method":"status","params":{{"pad":"{}"}}}}"#,
        "x".repeat(70_000)
    ))
    .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("65536"), "{reason}");

    // Binary.
    let mut ws = Ws::connected(&gw.url).await;
    ws.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(ws.closed().await.0, 1003);

    // A client that connects, then neither reads nor sends (so it answers no pings): after 3
    // silent ticks the gateway closes it with 1001. A raw socket, because a WebSocket library
    // would answer the pings as soon as it reads.
    let addr = gw.url.trim_start_matches("http://").to_string();
    let close = tokio::task::spawn_blocking(move || silent_client(&addr))
        .await
        .unwrap();
    assert_eq!(close, Some(1001), "expected a close frame with 1001");

    // The gateway kept serving everyone else.
    let mut ws = Ws::connected(&gw.url).await;
    assert_eq!(ws.call("health", json!({})).await["ok"], true);
}

/// Upgrades, sends `connect` (a masked frame with an all-zero mask, which leaves the payload
/// as is), then only waits; returns the code of the close frame the server sent, if any.
fn silent_client(addr: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let connect = format!(
        r#"{{"type":"req","id":"1","method":"connect","params":{{"minProtocol":1,"maxProtocol":1,"auth":{{"token":"{TOKEN}"}}}}}}"#
    );
    let mut frame = vec![0x81, 0x80 | 126];
    frame.extend_from_slice(&(connect.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(connect.as_bytes());
    stream.write_all(&frame).unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    let header_end = received.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    // Walk the server's (unmasked) frames to the close frame.
    let mut at = header_end;
    while at + 2 <= received.len() {
        let opcode = received[at] & 0x0f;
        let (len, start) = match received[at + 1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([received[at + 2], received[at + 3]])),
                at + 4,
            ),
            127 => return None,
            n => (usize::from(n), at + 2),
        };
        if opcode == 0x8 && len >= 2 {
            return Some(u16::from_be_bytes([received[start], received[start + 1]]));
        }
        at = start + len;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_other_origins_are_refused() {
    let fake = FakeOpenAi::start(vec![]).await;
    let (_home, gw) = gateway(fake.server.port(), "").await;
    let ws_url = format!("{}/ws", gw.url.replace("http://", "ws://"));
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // The gateway's own origin is fine.
    let mut request = ws_url.as_str().into_client_request().unwrap();
    let own = gw.url.clone();
    request.headers_mut().insert("origin", own.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_stream_events_and_sessions_are_kept() {
    let fake = FakeOpenAi::start(vec![
        fixed(FakeOpenAi::text(&["Hello ", "from ", "Chitin."], 20, 3, 0)),
        fixed(FakeOpenAi::text(&["Second."], 30, 2, 0)),
        fixed(FakeOpenAi::text(&["Elsewhere."], 10, 2, 0)),
    ])
    .await;
    let (_home, gw) = gateway(fake.server.port(), "").await;
    let mut ws = Ws::connected(&gw.url).await;

    let started = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "Say hello."}),
        )
        .await;
    assert_eq!(started["sessionKey"], "agent:main:main");
    let run_id = started["runId"].as_str().unwrap().to_string();
    let events = ws.run_events(&run_id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"model"), "{kinds:?}");
    let text: String = events
        .iter()
        .filter(|e| e["kind"] == "delta")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello from Chitin.");
    assert!(kinds.contains(&"usage"), "{kinds:?}");
    let done = events.last().unwrap();
    assert_eq!(done["kind"], "done");
    assert_eq!(done["text"], "Hello from Chitin.");
    assert_eq!(done["inputTokens"], 20);
    assert_eq!(done["agentId"], "main");

    let waited = ws.call("agent.wait", json!({"runId": run_id})).await;
    assert_eq!(waited["status"], "ok", "{waited}");
    assert_eq!(waited["text"], "Hello from Chitin.");
    assert_eq!(waited["model"], "fake/gpt-fake");

    // chat.send continues the same session; the provider saw the first turn.
    let sent = ws
        .call(
            "chat.send",
            json!({"sessionKey": "agent:main:main", "message": "Again."}),
        )
        .await;
    let events = ws.run_events(sent["runId"].as_str().unwrap()).await;
    assert_eq!(events.last().unwrap()["text"], "Second.");
    let second = fake.server.requests()[1].json();
    assert!(
        second.to_string().contains("Hello from Chitin."),
        "{second}"
    );

    let history = ws
        .call("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    let messages = history["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(messages[0]["content"], "Say hello.");
    let page = ws
        .call(
            "sessions.history",
            json!({"sessionKey": "agent:main:main", "limit": 1, "beforeSeq": messages[3]["seq"]}),
        )
        .await;
    assert_eq!(page["messages"][0]["content"], "Again.");

    // Another session of the same agent.
    let other = ws
        .call(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:main:webchat:x1", "message": "Hi"}),
        )
        .await;
    ws.run_events(other["runId"].as_str().unwrap()).await;
    let sessions = ws.call("sessions.list", json!({"agent": "main"})).await;
    let keys: Vec<&str> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["agent:main:webchat:x1", "agent:main:main"]);

    let reset = ws
        .call("sessions.reset", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert_eq!(reset["removedMessages"], 4);
    let history = ws
        .call("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert!(history["messages"].as_array().unwrap().is_empty());

    // What cannot be found says so.
    let error = ws
        .error("agent.run", json!({"agent": "ghost", "message": "hi"}))
        .await;
    assert_eq!(error["code"], "NOT_FOUND");
    assert!(
        error["message"].as_str().unwrap().contains("main"),
        "{error}"
    );
    let error = ws
        .error(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:other:main", "message": "hi"}),
        )
        .await;
    assert_eq!(error["code"], "INVALID_REQUEST");
    assert_eq!(
        ws.error("agent.wait", json!({"runId": "r999"})).await["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        ws.error("sessions.reset", json!({"sessionKey": "agent:main:nope"}))
            .await["code"],
        "NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_wait_for_approval_and_can_be_aborted() {
    let fake = FakeOpenAi::start(vec![
        // Run 1: echo, denied.
        fixed(echo_call("one")),
        fixed(FakeOpenAi::text(&["Denied, fine."], 10, 2, 0)),
        // Run 2: echo, approved.
        fixed(echo_call("two")),
        fixed(FakeOpenAi::text(&["It said two."], 10, 2, 0)),
        // Run 3: echo, aborted while waiting.
        fixed(echo_call("three")),
    ])
    .await;
    let (home, gw) = gateway(fake.server.port(), "").await;
    let mut ws = Ws::connected(&gw.url).await;
    let mut operator = Ws::connected(&gw.url).await;

    for (decision, expect_ok) in [("deny", false), ("approve", true)] {
        let run = ws
            .call(
                "agent.run",
                json!({"agent": "main", "message": "echo something"}),
            )
            .await;
        let run_id = run["runId"].as_str().unwrap().to_string();
        // Every client hears about the request; the run's own stream names the approval.
        let requested = operator.approval_requested().await;
        let approval = requested["payload"]["approval"].clone();
        assert_eq!(approval["tool"], "echo");
        assert_eq!(approval["agentId"], "main");
        assert!(approval["expiresAtMs"].as_i64() > approval["createdAtMs"].as_i64());
        let listed = operator.call("approvals.list", json!({})).await;
        assert_eq!(listed["approvals"][0]["id"], approval["id"]);
        let status = operator.call("status", json!({})).await;
        assert_eq!(status["pendingApprovals"], 1);
        assert_eq!(status["activeRuns"], 1);

        let bad = operator
            .error(
                "approvals.resolve",
                json!({"id": approval["id"], "decision": "maybe"}),
            )
            .await;
        assert!(
            bad["message"].as_str().unwrap().contains("approve"),
            "{bad}"
        );
        operator
            .call(
                "approvals.resolve",
                json!({"id": approval["id"], "decision": decision, "reason": "test"}),
            )
            .await;
        let events = ws.run_events(&run_id).await;
        let asked = events.iter().find(|e| e["kind"] == "approval").unwrap();
        assert_eq!(asked["approvalId"], approval["id"]);
        let end = tool_end(&events);
        assert_eq!(end["ok"], expect_ok, "{end}");
        if expect_ok {
            assert_eq!(end["output"], "two");
        } else {
            assert!(end["output"].as_str().unwrap().contains("denied"), "{end}");
        }
        assert_eq!(events.last().unwrap()["kind"], "done");
        let resolved = operator
            .event("approval resolved", |e| {
                e["event"] == "approval" && e["payload"]["kind"] == "resolved"
            })
            .await;
        assert_eq!(resolved["payload"]["decision"], decision);
        // Decided once only.
        assert_eq!(
            operator
                .error(
                    "approvals.resolve",
                    json!({"id": approval["id"], "decision": "approve"})
                )
                .await["code"],
            "NOT_FOUND"
        );
    }

    // Abort a run that waits for approval: it ends as aborted and its request is withdrawn.
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "echo three"}),
        )
        .await;
    let run_id = run["runId"].as_str().unwrap().to_string();
    operator.approval_requested().await;
    assert_eq!(
        ws.call("agent.wait", json!({"runId": run_id, "timeoutMs": 50}))
            .await["status"],
        "running"
    );
    assert_eq!(
        operator.call("agent.abort", json!({"runId": run_id})).await["aborted"],
        true
    );
    let events = ws.run_events(&run_id).await;
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "error");
    assert_eq!(last["code"], "interrupted");
    assert_eq!(
        ws.call("agent.wait", json!({"runId": run_id})).await["status"],
        "aborted"
    );
    let withdrawn = operator
        .event("approval withdrawn", |e| {
            e["event"] == "approval" && e["payload"]["decision"] == "cancelled"
        })
        .await;
    assert_eq!(withdrawn["payload"]["kind"], "resolved");
    assert!(
        operator.call("approvals.list", json!({})).await["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        operator.call("agent.abort", json!({"runId": run_id})).await["aborted"],
        false
    );

    // The decisions are in the audit log, with who made them.
    let store = chitin_store::Store::open(&home.path().join("chitin.db")).unwrap();
    let audit = store.audit_recent(10).unwrap();
    let decisions: Vec<(&str, &str)> = audit
        .iter()
        .filter(|a| a.action == "approval.resolve")
        .map(|a| (a.actor.as_str(), a.detail["decision"].as_str().unwrap()))
        .collect();
    assert!(
        decisions.contains(&("operator:test@c2", "deny")),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("operator:test@c2", "approve")),
        "{decisions:?}"
    );
    assert!(
        decisions.iter().any(|d| d.1 == "cancelled"),
        "{decisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_requests_are_listed_and_decided() {
    let fake = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), fake.server.port(), "");
    let store = chitin_store::Store::open(&home.path().join("chitin.db")).unwrap();
    let hour = Duration::from_secs(3600);
    let alice = store
        .pairing_request("telegram", "1001", Some("Alice"), hour)
        .unwrap()
        .unwrap();
    let bob = store
        .pairing_request("irc", "bob", None, hour)
        .unwrap()
        .unwrap();
    let path = home.path().to_path_buf();
    let gw = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();
    let mut ws = Ws::connected(&gw.url).await;
    let mut other = Ws::connected(&gw.url).await;

    let all = ws.call("pairing.list", json!({})).await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 2, "{all}");
    let telegram = ws
        .call("pairing.list", json!({"channel": "telegram"}))
        .await;
    assert_eq!(telegram["requests"][0]["code"], alice.code.as_str());
    assert_eq!(telegram["requests"][0]["displayName"], "Alice");
    assert_eq!(ws.call("status", json!({})).await["pendingPairing"], 2);

    let approved = ws
        .call(
            "pairing.approve",
            json!({"code": alice.code.to_lowercase()}),
        )
        .await;
    assert_eq!(approved["request"]["status"], "approved");
    let event = other
        .event("pairing resolved", |e| e["event"] == "pairing")
        .await;
    assert_eq!(event["payload"]["code"], alice.code.as_str());
    assert_eq!(event["payload"]["decision"], "approve");
    assert!(store.pairing_is_approved("telegram", "1001").unwrap());

    let rejected = ws.call("pairing.reject", json!({"code": bob.code})).await;
    assert_eq!(rejected["request"]["status"], "rejected");
    assert!(!store.pairing_is_approved("irc", "bob").unwrap());
    let error = ws.error("pairing.approve", json!({"code": bob.code})).await;
    assert_eq!(error["code"], "NOT_FOUND");
    assert!(
        ws.call("pairing.list", json!({})).await["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let channels = ws.call("channels.status", json!({})).await;
    assert_eq!(channels["channels"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_plugins_and_status() {
    let fake = FakeOpenAi::start(vec![]).await;
    let (home, gw) = gateway(fake.server.port(), "").await;
    let mut ws = Ws::connected(&gw.url).await;

    let status = ws.call("status", json!({})).await;
    assert_eq!(status["agents"][0]["model"], "fake/gpt-fake");
    assert_eq!(status["connections"], 1);
    assert_eq!(status["draining"], false);
    let health = ws.call("health", json!({})).await;
    assert_eq!(health["store"], "ok");

    // Plugins with what they were granted.
    let plugins = ws.call("plugins.list", json!({})).await;
    let ids: Vec<&str> = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo", "openai"]);
    let openai = &plugins["plugins"][1];
    assert_eq!(openai["kind"], "provider");
    assert_eq!(
        openai["grant"]["outbound"][0],
        format!("http://127.0.0.1:{}", fake.server.port())
    );
    assert!(openai["budgets"]["fuel"].as_u64().unwrap() > 0);
    let echo = ws.call("plugins.inspect", json!({"id": "echo"})).await;
    assert_eq!(echo["tools"][0]["name"], "echo");
    assert_eq!(echo["grant"]["outbound"], json!([]));
    assert_eq!(echo["budgets"]["memoryBytes"], 16 * 1024 * 1024);
    let error = ws.error("plugins.inspect", json!({"id": "nope"})).await;
    assert_eq!(error["code"], "NOT_FOUND");
    assert!(error["message"].as_str().unwrap().contains("echo"));

    // Config: read, compare-and-swap, validation, audit.
    let config = ws.call("config.get", json!({})).await;
    assert_eq!(config["config"]["agents"]["main"]["model"], "fake/gpt-fake");
    // A reference to the environment is shown as written, not resolved.
    assert_eq!(
        config["config"]["gateway"]["token"],
        "${CHITIN_GATEWAY_TOKEN}"
    );
    let hash = config["hash"].as_str().unwrap().to_string();
    let error = ws
        .error(
            "config.patch",
            json!({"baseHash": hash, "patch": {"agents": {"main": {"modle": "x"}}}}),
        )
        .await;
    assert_eq!(error["code"], "INVALID_CONFIG");
    assert!(
        error["message"].as_str().unwrap().contains("modle"),
        "{error}"
    );
    let patched = ws
        .call(
            "config.patch",
            json!({"baseHash": hash, "patch": {"agents": {"main": {"max_iterations": 7}}}}),
        )
        .await;
    assert_eq!(patched["restartRequired"], true);
    let text = std::fs::read_to_string(home.path().join("chitin.toml")).unwrap();
    assert!(text.contains("max_iterations = 7"), "{text}");
    assert!(
        text.starts_with("# the test's gateway"),
        "comments are kept: {text}"
    );
    let stale = ws
        .error(
            "config.patch",
            json!({"baseHash": hash, "patch": {"agents": {"main": {"max_iterations": 8}}}}),
        )
        .await;
    assert_eq!(stale["code"], "CONFLICT");
    assert_eq!(stale["details"]["currentHash"], patched["hash"]);
    let store = chitin_store::Store::open(&home.path().join("chitin.db")).unwrap();
    let audit = store.audit_recent(5).unwrap();
    let entry = audit.iter().find(|a| a.action == "config.patch").unwrap();
    assert_eq!(entry.detail["hash"], patched["hash"]);
    assert_eq!(entry.actor, "operator:test@c1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_to_a_running_gateway() {
    let fake = FakeOpenAi::start(vec![fixed(FakeOpenAi::text(
        &["Streamed ", "answer."],
        10,
        2,
        0,
    ))])
    .await;
    let (home, gw) = gateway(fake.server.port(), "").await;
    let port = gw.url.rsplit(':').next().unwrap().to_string();
    let home_dir = home.path().to_path_buf();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let chitin = move |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", &home_dir)
            .env("CHITIN_GATEWAY_TOKEN", TOKEN)
            .env("CHITIN_GATEWAY_URL", &url)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = tokio::task::spawn_blocking({
        let chitin = chitin.clone();
        move || chitin(&["message", "send", "Hello there"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Streamed answer.");

    let (ok, out, err) = chitin(&["status"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("agent main") && out.contains("fake/gpt-fake"),
        "{out}"
    );
    assert!(out.contains("sessions 1"), "{out}");

    let (ok, out, err) = chitin(&["gateway", "call", "sessions.list", r#"{"limit":5}"#]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["sessions"][0]["key"], "agent:main:main");

    let (ok, _, err) = chitin(&["gateway", "call", "sessions.list", "{oops"]);
    assert!(!ok);
    assert!(err.contains("not JSON"), "{err}");
    let (ok, _, err) = chitin(&["gateway", "call", "no.such", "{}"]);
    assert!(!ok);
    assert!(err.contains("UNKNOWN_METHOD"), "{err}");

    // A wrong token is reported as such.
    let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["status", "--token", "wrong"])
        .env("CHITIN_HOME", home.path())
        .env("CHITIN_GATEWAY_URL", format!("ws://127.0.0.1:{port}/ws"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UNAUTHORIZED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_finishes_runs_then_says_goodbye() {
    let fake = FakeOpenAi::start(vec![
        fixed(echo_call("late")),
        fixed(FakeOpenAi::text(&["Finished during the drain."], 10, 2, 0)),
    ])
    .await;
    let (_home, mut gw) = gateway(fake.server.port(), "").await;
    let mut ws = Ws::connected(&gw.url).await;
    let mut operator = Ws::connected(&gw.url).await;
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "echo late"}),
        )
        .await;
    let run_id = run["runId"].as_str().unwrap().to_string();
    let requested = operator.approval_requested().await;

    let pid = gw.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // While draining: /readyz says so, no new runs, but the run in progress can finish.
    let addr = gw.url.trim_start_matches("http://").to_string();
    let mut draining = false;
    for _ in 0..100 {
        let addr = addr.clone();
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            response
        })
        .await
        .unwrap();
        if response.starts_with("HTTP/1.1 503") {
            draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(draining, "/readyz never reported draining");
    let refused = operator
        .error("agent.run", json!({"agent": "main", "message": "more"}))
        .await;
    assert_eq!(refused["code"], "UNAVAILABLE");
    assert_eq!(refused["retryable"], true);
    operator
        .call(
            "approvals.resolve",
            json!({"id": requested["payload"]["approval"]["id"], "decision": "approve"}),
        )
        .await;
    let events = ws.run_events(&run_id).await;
    assert_eq!(events.last().unwrap()["text"], "Finished during the drain.");
    let goodbye = ws.event("shutdown", |e| e["event"] == "shutdown").await;
    assert!(
        goodbye["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("stopping")
    );
    assert_eq!(ws.closed().await.0, 1012);
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// The run's `tool.end` event.
fn tool_end(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["kind"] == "tool.end")
        .unwrap_or_else(|| panic!("no tool.end in {events:?}"))
}

fn exec_call(id: &'static str, command: &str) -> crate::fakes::Reply {
    let args: &'static str = Box::leak(
        serde_json::json!({"command": command})
            .to_string()
            .into_boxed_str(),
    );
    FakeOpenAi::tool_calls(&[(0, Some((id, "exec")), args)], "tool_calls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_allowed_programs_and_asks_for_the_rest() {
    let fake = FakeOpenAi::start(vec![
        // 1: not allowlisted -> approval over the protocol.
        fixed(exec_call("x1", "cat notes.txt")),
        fixed(FakeOpenAi::text(&["Read it."], 10, 2, 0)),
        // 2: allowlisted -> runs at once.
        fixed(exec_call("x2", "ls")),
        fixed(FakeOpenAi::text(&["Listed."], 10, 2, 0)),
        // 3: a shell construct -> refused without asking.
        fixed(exec_call("x3", "cat notes.txt; id")),
        fixed(FakeOpenAi::text(&["No shell then."], 10, 2, 0)),
        // 4: approval by a chat command from another session.
        fixed(exec_call("x4", "wc -c notes.txt")),
        fixed(FakeOpenAi::text(&["Counted."], 10, 2, 0)),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), fake.server.port(), "");
    let mut config = std::fs::read_to_string(home.path().join("chitin.toml")).unwrap();
    // The test's agent asks for echo; exec has its own policy.
    config.push_str("\n[tools.exec]\npolicy = \"ask\"\nallow = [\"ls\"]\ntimeout_secs = 10\n");
    std::fs::write(home.path().join("chitin.toml"), config).unwrap();
    let path = home.path().to_path_buf();
    let gw = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();
    std::fs::write(
        home.path().join("workspace-main/notes.txt"),
        "the secret plan\n",
    )
    .unwrap();
    let mut ws = Ws::connected(&gw.url).await;
    let mut operator = Ws::connected(&gw.url).await;

    // 1. Asks, then runs once approved.
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "read my notes"}),
        )
        .await;
    let requested = operator.approval_requested().await;
    assert_eq!(requested["payload"]["approval"]["tool"], "exec");
    assert!(
        requested["payload"]["approval"]["arguments"]
            .as_str()
            .unwrap()
            .contains("cat notes.txt")
    );
    operator
        .call(
            "approvals.resolve",
            json!({"id": requested["payload"]["approval"]["id"], "decision": "approve"}),
        )
        .await;
    let events = ws.run_events(run["runId"].as_str().unwrap()).await;
    let end = tool_end(&events);
    assert_eq!(end["ok"], true, "{end}");
    assert!(
        end["output"].as_str().unwrap().contains("the secret plan"),
        "{end}"
    );

    // 2. Allowlisted: no approval.
    let events = ws.run("list files").await;
    assert!(
        !events.iter().any(|e| e["kind"] == "approval"),
        "{events:?}"
    );
    let end = tool_end(&events);
    assert!(
        end["output"].as_str().unwrap().contains("notes.txt"),
        "{end}"
    );

    // 3. Shell syntax is refused before anyone is asked.
    let events = ws.run("be sneaky").await;
    assert!(
        !events.iter().any(|e| e["kind"] == "approval"),
        "{events:?}"
    );
    let end = tool_end(&events);
    assert_eq!(end["ok"], false);
    assert!(
        end["output"].as_str().unwrap().contains("no shell"),
        "{end}"
    );

    // 4. `/approve <id>` typed in a chat (another session of the agent) resolves it.
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "count bytes"}),
        )
        .await;
    let requested = operator.approval_requested().await;
    let id = requested["payload"]["approval"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let listing = operator
        .call(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:main:webchat:ops", "message": "/approve"}),
        )
        .await;
    let reply = operator
        .run_events(listing["runId"].as_str().unwrap())
        .await;
    assert!(
        reply.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains(&id),
        "{reply:?}"
    );
    let command = operator
        .call(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:main:webchat:ops", "message": format!("/approve {id}")}),
        )
        .await;
    let reply = operator
        .run_events(command["runId"].as_str().unwrap())
        .await;
    assert!(
        reply.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved"),
        "{reply:?}"
    );
    let events = ws.run_events(run["runId"].as_str().unwrap()).await;
    let end = tool_end(&events);
    assert!(
        end["output"].as_str().unwrap().contains("16 notes.txt"),
        "{end}"
    );

    // Every exec is in the audit log with its argv.
    let store = chitin_store::Store::open(&home.path().join("chitin.db")).unwrap();
    let runs: Vec<serde_json::Value> = store
        .audit_recent(50)
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "exec")
        .map(|a| a.detail)
        .collect();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(
        runs.iter()
            .any(|r| r["argv"] == json!(["cat", "notes.txt"]) && r["approved"] == true)
    );
    assert!(
        runs.iter()
            .any(|r| r["argv"] == json!(["ls"]) && r["approved"] == false)
    );
}

#[test]
fn exec_cannot_allowlist_a_shell() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("chitin.toml"),
        "[tools.exec]\npolicy = \"allowlist\"\nallow = [\"bash\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["gateway", "--port", "0"])
        .env("CHITIN_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("allow everything"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_can_be_decided_from_the_cli() {
    let fake = FakeOpenAi::start(vec![
        fixed(echo_call("cli")),
        fixed(FakeOpenAi::text(&["Understood."], 10, 2, 0)),
    ])
    .await;
    let (home, gw) = gateway(fake.server.port(), "").await;
    let mut ws = Ws::connected(&gw.url).await;
    let run = ws
        .call("agent.run", json!({"agent": "main", "message": "echo cli"}))
        .await;
    ws.approval_requested().await;
    let url = format!("{}/ws", gw.url.replace("http://", "ws://"));
    let home_dir = home.path().to_path_buf();
    let chitin = move |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", &home_dir)
            .env("CHITIN_GATEWAY_TOKEN", TOKEN)
            .env("CHITIN_GATEWAY_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let listed = chitin(&["approvals", "list"]);
    assert!(
        listed.contains("echo") && listed.contains("agent main"),
        "{listed}"
    );
    let id = listed.split_whitespace().next().unwrap().to_string();
    let denied = chitin(&["approvals", "deny", &id, "--reason", "not now"]);
    assert!(denied.contains("denied"), "{denied}");
    let events = ws.run_events(run["runId"].as_str().unwrap()).await;
    let end = tool_end(&events);
    assert!(end["output"].as_str().unwrap().contains("not now"), "{end}");
    assert!(chitin(&["approvals", "list"]).contains("nothing is waiting"));
}
