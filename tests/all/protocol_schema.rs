//! The JSON Schemas of the WebSocket protocol (docs/protocol/*.schema.json) against what a real
//! `chitin gateway` sends: one session that calls every method, provokes the documented errors
//! and sees every event, recorded frame by frame and checked by tests/support/validate_frames.py,
//! so the documentation cannot drift from the code unnoticed.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{python, repo_root};
use crate::fakes::fixed;
use crate::fakes::openai::FakeOpenAi;
use crate::gateway::{TOKEN, echo_call, start, write_approval_config};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const STEP: Duration = Duration::from_secs(60);

/// Every frame of every connection, in the order sent and received, in the format
/// validate_frames.py reads.
type Recording = Arc<Mutex<Vec<Value>>>;

/// What a connection's reader passes on.
enum Incoming {
    Frame(Value),
    Closed(Option<(u16, String)>),
}

/// A protocol client that records every frame. A background task reads all the time, so
/// the gateway's pings are answered even while the test talks to another connection (with
/// 200 ms ticks, 600 ms without reading would get a connection closed as silent).
struct Ws {
    label: &'static str,
    sink: SplitSink<Socket, Message>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    next_id: u64,
    /// Methods of the requests sent, by id, so the reader can name a response's method.
    pending: Arc<Mutex<HashMap<String, String>>>,
    events: VecDeque<Value>,
    recording: Recording,
}

impl Ws {
    async fn open(url: &str, label: &'static str, recording: &Recording) -> Ws {
        let ws_url = format!("{}/ws", url.replace("http://", "ws://"));
        let (socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        let (sink, mut stream) = socket.split();
        let (tx, incoming) = mpsc::unbounded_channel();
        let pending: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (reader_pending, reader_recording) = (pending.clone(), recording.clone());
        tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Text(text)) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        let mut entry =
                            json!({"direction": "in", "connection": label, "frame": frame});
                        if frame["type"] == "res"
                            && let Some(id) = frame["id"].as_str()
                            && let Some(method) = reader_pending.lock().unwrap().get(id)
                        {
                            entry["method"] = json!(method);
                        }
                        reader_recording.lock().unwrap().push(entry);
                        if tx.send(Incoming::Frame(frame)).is_err() {
                            return;
                        }
                    }
                    Ok(Message::Close(close)) => {
                        let close = close.map(|f| (u16::from(f.code), f.reason.to_string()));
                        let _ = tx.send(Incoming::Closed(close));
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        let _ = tx.send(Incoming::Closed(None));
                        return;
                    }
                }
            }
            let _ = tx.send(Incoming::Closed(None));
        });
        Ws {
            label,
            sink,
            incoming,
            next_id: 0,
            pending,
            events: VecDeque::new(),
            recording: recording.clone(),
        }
    }

    /// Opens and connects; returns the client and the hello payload.
    async fn connected(url: &str, label: &'static str, recording: &Recording) -> (Ws, Value) {
        let mut ws = Ws::open(url, label, recording).await;
        let hello = ws.call("connect", connect_params()).await;
        (ws, hello)
    }

    /// Sends a frame as is; `expect_invalid` marks one the gateway refuses as malformed.
    async fn send_frame(&mut self, frame: Value, expect_invalid: bool) {
        let mut entry = json!({"direction": "out", "connection": self.label, "frame": frame});
        if let Some(method) = frame["method"].as_str() {
            entry["method"] = json!(method);
        }
        if expect_invalid {
            entry["expect"] = json!("invalid");
        }
        self.recording.lock().unwrap().push(entry);
        self.send_text(frame.to_string()).await;
    }

    /// Sends text that is not recorded (because it is not JSON).
    async fn send_text(&mut self, text: String) {
        self.sink.send(Message::Text(text.into())).await.unwrap();
    }

    async fn next(&mut self) -> Incoming {
        tokio::time::timeout(STEP, self.incoming.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: no frame from the gateway within 60 s", self.label))
            .unwrap_or(Incoming::Closed(None))
    }

    /// The next frame; panics if the connection closed.
    async fn frame(&mut self, waiting_for: &str) -> Value {
        match self.next().await {
            Incoming::Frame(frame) => frame,
            Incoming::Closed(close) => {
                panic!(
                    "{}: closed while waiting for {waiting_for}: {close:?}",
                    self.label
                )
            }
        }
    }

    /// The next response frame, whatever its id (events meanwhile are kept).
    async fn response(&mut self) -> Value {
        loop {
            let frame = self.frame("a response").await;
            if frame["type"] == "res" {
                return frame;
            }
            self.events.push_back(frame);
        }
    }

    /// Sends a request and returns the whole response frame.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("{}{}", self.label, self.next_id);
        self.pending
            .lock()
            .unwrap()
            .insert(id.clone(), method.to_string());
        self.send_frame(
            json!({"type": "req", "id": id, "method": method, "params": params}),
            false,
        )
        .await;
        loop {
            let frame = self.frame(method).await;
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

    /// The error of a failed call, which must have `code`.
    async fn error(&mut self, method: &str, params: Value, code: &str) -> Value {
        let frame = self.request(method, params).await;
        assert_eq!(frame["ok"], false, "{method} should fail: {frame}");
        assert_eq!(frame["error"]["code"], code, "{frame}");
        frame["error"].clone()
    }

    /// The first event (buffered or new) matching `pred`.
    async fn event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.events.iter().position(&pred) {
            return self.events.remove(at).unwrap();
        }
        loop {
            let frame = self.frame(what).await;
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

    /// Waits for the server to close; returns the close code.
    async fn closed(&mut self) -> u16 {
        loop {
            if let Incoming::Closed(close) = self.next().await {
                return close.map_or(1006, |(code, _)| code);
            }
        }
    }
}

fn connect_params() -> Value {
    json!({
        "minProtocol": 1,
        "maxProtocol": 1,
        "auth": {"token": TOKEN},
        "client": {"name": "schema-test", "version": "0.0.1"},
    })
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_matches_the_protocol_schemas() {
    let fake = FakeOpenAi::start(vec![
        // agent.run
        fixed(FakeOpenAi::text(&["Hello ", "from ", "Chitin."], 20, 3, 0)),
        // chat.send
        fixed(FakeOpenAi::text(&["Second."], 30, 2, 0)),
        // A tool call that is approved, then the answer.
        fixed(echo_call("two")),
        fixed(FakeOpenAi::text(&["It said two."], 10, 2, 0)),
        // A tool call aborted while it waits for approval.
        fixed(echo_call("three")),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    write_approval_config(home.path(), fake.server.port(), "tick_interval_ms = 200");
    // Pairing requests, as a channel would have made them.
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
    drop(store);
    let path = home.path().to_path_buf();
    let mut gw = tokio::task::spawn_blocking(move || start(&path))
        .await
        .unwrap();

    let recording: Recording = Arc::default();
    let (mut ws, hello) = Ws::connected(&gw.url, "a", &recording).await;
    let (mut operator, _) = Ws::connected(&gw.url, "b", &recording).await;
    ws.event("presence with both", |e| {
        e["event"] == "presence" && e["payload"]["clients"].as_array().unwrap().len() == 2
    })
    .await;

    // Status and health.
    ws.call("status", json!({})).await;
    ws.call("health", json!(null)).await;

    // A run with its events, then its result.
    let started = ws
        .call(
            "agent.run",
            json!({"agent": "main", "message": "Say hello."}),
        )
        .await;
    let run_id = started["runId"].as_str().unwrap().to_string();
    let events = ws.run_events(&run_id).await;
    assert_eq!(events.last().unwrap()["kind"], "done", "{events:?}");
    let waited = ws
        .call("agent.wait", json!({"runId": run_id, "timeoutMs": 5000}))
        .await;
    assert_eq!(waited["status"], "ok", "{waited}");

    // chat.send continues the session.
    let sent = ws
        .call(
            "chat.send",
            json!({"sessionKey": "agent:main:main", "message": "Again."}),
        )
        .await;
    ws.run_events(sent["runId"].as_str().unwrap()).await;

    // History and sessions.
    let history = ws
        .call("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{history}");
    ws.call(
        "sessions.history",
        json!({"sessionKey": "agent:main:main", "limit": 2, "beforeSeq": messages[3]["seq"]}),
    )
    .await;
    ws.call("sessions.list", json!({"agent": "main", "limit": 10}))
        .await;

    // A tool call that needs approval: requested to everyone, listed, approved, run.
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:main:tools", "message": "echo two"}),
        )
        .await;
    let run_id = run["runId"].as_str().unwrap().to_string();
    let requested = operator
        .event("approval requested", |e| {
            e["event"] == "approval" && e["payload"]["kind"] == "requested"
        })
        .await;
    let approval_id = requested["payload"]["approval"]["id"].clone();
    let listed = operator.call("approvals.list", json!({})).await;
    assert_eq!(listed["approvals"][0]["id"], approval_id, "{listed}");
    operator
        .call(
            "approvals.resolve",
            json!({"id": approval_id, "decision": "approve", "reason": "fine"}),
        )
        .await;
    let events = ws.run_events(&run_id).await;
    let kinds: BTreeSet<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["approval", "tool.start", "tool.end", "done"] {
        assert!(kinds.contains(kind), "no `{kind}` in {events:?}");
    }
    operator
        .event("approval resolved", |e| {
            e["event"] == "approval" && e["payload"]["kind"] == "resolved"
        })
        .await;
    operator
        .error(
            "approvals.resolve",
            json!({"id": approval_id, "decision": "deny"}),
            "NOT_FOUND",
        )
        .await;

    // A run aborted while it waits for approval: `running`, then `aborted`, and the request
    // is withdrawn (`cancelled`).
    let run = ws
        .call(
            "agent.run",
            json!({"agent": "main", "sessionKey": "agent:main:tools", "message": "echo three"}),
        )
        .await;
    let run_id = run["runId"].as_str().unwrap().to_string();
    operator
        .event("second approval requested", |e| {
            e["event"] == "approval" && e["payload"]["kind"] == "requested"
        })
        .await;
    let waited = ws
        .call("agent.wait", json!({"runId": run_id, "timeoutMs": 50}))
        .await;
    assert_eq!(waited["status"], "running", "{waited}");
    let aborted = operator.call("agent.abort", json!({"runId": run_id})).await;
    assert_eq!(aborted["aborted"], true);
    let events = ws.run_events(&run_id).await;
    assert_eq!(events.last().unwrap()["kind"], "error", "{events:?}");
    let waited = ws.call("agent.wait", json!({"runId": run_id})).await;
    assert_eq!(waited["status"], "aborted", "{waited}");
    operator
        .event("approval cancelled", |e| {
            e["event"] == "approval" && e["payload"]["decision"] == "cancelled"
        })
        .await;
    let aborted = ws
        .call("agent.abort", json!({"sessionKey": "agent:main:tools"}))
        .await;
    assert_eq!(aborted["aborted"], false);

    ws.call("sessions.reset", json!({"sessionKey": "agent:main:main"}))
        .await;
    ws.error(
        "sessions.reset",
        json!({"sessionKey": "agent:main:nope"}),
        "NOT_FOUND",
    )
    .await;
    ws.error(
        "agent.run",
        json!({"agent": "ghost", "message": "hi"}),
        "NOT_FOUND",
    )
    .await;
    ws.error("agent.wait", json!({"runId": "r999"}), "NOT_FOUND")
        .await;

    // Configuration: read, patch, a stale patch, an invalid one.
    let config = ws.call("config.get", json!({})).await;
    let hash = config["hash"].as_str().unwrap().to_string();
    let patched = ws
        .call(
            "config.patch",
            json!({"baseHash": hash, "patch": {"agents": {"main": {"max_iterations": 7}}}}),
        )
        .await;
    ws.error(
        "config.patch",
        json!({"baseHash": hash, "patch": {"agents": {"main": {"max_iterations": 8}}}}),
        "CONFLICT",
    )
    .await;
    ws.error(
        "config.patch",
        json!({"baseHash": patched["hash"], "patch": {"agents": {"main": {"modle": "x"}}}}),
        "INVALID_CONFIG",
    )
    .await;

    // Plugins.
    let plugins = ws.call("plugins.list", json!({})).await;
    assert_eq!(plugins["plugins"].as_array().unwrap().len(), 2, "{plugins}");
    ws.call("plugins.inspect", json!({"id": "echo"})).await;
    ws.call("plugins.inspect", json!({"id": "openai"})).await;
    ws.error("plugins.inspect", json!({"id": "nope"}), "NOT_FOUND")
        .await;

    // Pairing: listed, approved, rejected (every connection hears of the decisions).
    let all = ws.call("pairing.list", json!({})).await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 2, "{all}");
    ws.call("pairing.list", json!({"channel": "telegram"}))
        .await;
    ws.call(
        "pairing.approve",
        json!({"code": alice.code.to_lowercase()}),
    )
    .await;
    operator
        .event("pairing resolved", |e| e["event"] == "pairing")
        .await;
    ws.call("pairing.reject", json!({"code": bob.code})).await;
    ws.error("pairing.approve", json!({"code": bob.code}), "NOT_FOUND")
        .await;

    ws.call("channels.status", json!({})).await;

    // Malformed requests.
    ws.error("chat.history", json!({"sessionKey": 7}), "INVALID_REQUEST")
        .await;
    ws.error(
        "agent.run",
        json!({"agent": "main", "message": "   "}),
        "INVALID_REQUEST",
    )
    .await;
    ws.error("connect", connect_params(), "INVALID_REQUEST")
        .await;
    ws.error("no.such.method", json!({}), "UNKNOWN_METHOD")
        .await;
    ws.send_text("{not json".into()).await;
    let answer = ws.response().await;
    assert_eq!(answer["id"], Value::Null, "{answer}");
    ws.send_frame(json!({"type": "req", "method": "status"}), true)
        .await;
    let answer = ws.response().await;
    assert_eq!(answer["error"]["code"], "INVALID_REQUEST", "{answer}");
    ws.send_frame(
        json!({"type": "req", "id": "x".repeat(65), "method": "status"}),
        true,
    )
    .await;
    let answer = ws.response().await;
    assert_eq!(answer["id"], Value::Null, "{answer}");
    ws.send_frame(
        json!({"type": "req", "id": "bad-params", "method": "status", "params": [1]}),
        true,
    )
    .await;
    let answer = ws.response().await;
    assert_eq!(answer["id"], "bad-params", "{answer}");
    ws.send_frame(
        json!({"type": "event", "id": "not-a-request", "method": "status"}),
        true,
    )
    .await;
    let answer = ws.response().await;
    assert_eq!(answer["error"]["code"], "INVALID_REQUEST", "{answer}");

    // Ticks, and presence when a client leaves.
    ws.event("a tick", |e| e["event"] == "tick").await;
    operator.sink.close().await.unwrap();
    operator.closed().await;
    ws.event("presence without the operator", |e| {
        e["event"] == "presence" && e["payload"]["clients"].as_array().unwrap().len() == 1
    })
    .await;

    // A stopping gateway says goodbye.
    let pid = gw.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    ws.event("shutdown", |e| e["event"] == "shutdown").await;
    assert_eq!(ws.closed().await, 1012);
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let recording = recording.lock().unwrap().clone();

    // Every method the hello offers was called successfully, every event was seen, and the
    // documented errors came up.
    let methods: BTreeSet<String> = strings(&hello["methods"]).into_iter().collect();
    let events: BTreeSet<String> = strings(&hello["events"]).into_iter().collect();
    let ok_methods: BTreeSet<String> = recording
        .iter()
        .filter(|e| e["direction"] == "in" && e["frame"]["ok"] == true)
        .filter_map(|e| e["method"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = methods.difference(&ok_methods).collect();
    assert!(missing.is_empty(), "methods never called: {missing:?}");
    let seen_events: BTreeSet<String> = recording
        .iter()
        .filter(|e| e["direction"] == "in" && e["frame"]["type"] == "event")
        .map(|e| e["frame"]["event"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = events.difference(&seen_events).collect();
    assert!(missing.is_empty(), "events never seen: {missing:?}");
    let codes: BTreeSet<&str> = recording
        .iter()
        .filter_map(|e| e["frame"]["error"]["code"].as_str())
        .collect();
    for code in [
        "INVALID_REQUEST",
        "UNKNOWN_METHOD",
        "NOT_FOUND",
        "CONFLICT",
        "INVALID_CONFIG",
    ] {
        assert!(codes.contains(code), "no {code} error in {codes:?}");
    }
    let kinds: BTreeSet<&str> = recording
        .iter()
        .filter(|e| e["frame"]["event"] == "agent")
        .filter_map(|e| e["frame"]["payload"]["kind"].as_str())
        .collect();
    for kind in [
        "model",
        "delta",
        "usage",
        "approval",
        "tool.start",
        "tool.end",
        "done",
        "error",
    ] {
        assert!(kinds.contains(kind), "no agent `{kind}` event in {kinds:?}");
    }
    // Event numbers count from 1 without gaps on each connection.
    let mut seqs: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for entry in &recording {
        if let Some(seq) = entry["frame"]["seq"].as_u64() {
            seqs.entry(entry["connection"].as_str().unwrap())
                .or_default()
                .push(seq);
        }
    }
    for (connection, seqs) in &seqs {
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "event seq of connection {connection}");
    }

    // And every frame matches the schemas. (To look at the frames,
    // CHITIN_PROTOCOL_RECORDING=/some/file.json keeps a copy.)
    if let Some(keep) = std::env::var_os("CHITIN_PROTOCOL_RECORDING") {
        std::fs::write(keep, serde_json::to_vec_pretty(&recording).unwrap()).unwrap();
    }
    let out = validate(&recording).await;
    assert!(
        out.status.success(),
        "frames that do not match docs/protocol/*.schema.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The check can fail: a field the schemas do not know is reported.
    let mut doctored = recording.clone();
    let status = doctored
        .iter_mut()
        .find(|e| e["method"] == "status" && e["frame"]["ok"] == true)
        .unwrap();
    status["frame"]["payload"]["undocumented"] = json!(1);
    let out = validate(&doctored).await;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && report.contains("'undocumented' was unexpected"),
        "a doctored frame passed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs tests/support/validate_frames.py on a recording.
async fn validate(recording: &[Value]) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(recording).unwrap()).unwrap();
    tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(repo_root().join("tests/support/validate_frames.py"))
            .arg(file.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}
