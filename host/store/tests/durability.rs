//! Committed writes survive the process being killed with SIGKILL.
//!
//! Each test re-runs this test binary as a child that executes only one ignored helper test
//! (`child_writer`, `child_message_writer`; a normal run skips them). The child commits in a
//! loop and reports each write on stdout only after the store call returned; the parent kills
//! it mid-stream with SIGKILL (what `Child::kill` sends on Unix), reopens the database and
//! checks every reported write is there.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chitin_store::{NewMessage, Store, ToolCallRecord};

const DB_ENV: &str = "CHITIN_STORE_DURABILITY_DB";
const ACKS_BEFORE_KILL: usize = 200;

#[test]
#[ignore = "helper process for durability_after_sigkill; not a test on its own"]
fn child_writer() {
    let Some(path) = std::env::var_os(DB_ENV) else {
        return;
    };
    let store = Store::open(&PathBuf::from(path)).unwrap();
    let mut out = std::io::stdout().lock();
    // Far more than the parent waits for: the kill lands while writes are in flight.
    for i in 0..1_000_000u64 {
        let key = format!("key-{i:07}");
        store
            .kv_set("durable", &key, &i.to_le_bytes(), u64::MAX)
            .unwrap();
        writeln!(out, "ACK {key}").unwrap();
        out.flush().unwrap();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "chitin-store-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the ignored test `helper` as a child writing to `db`, collects the payloads of its first
/// `ACKS_BEFORE_KILL` `ACK <payload>` lines, then kills it with SIGKILL.
fn run_child_and_kill(helper: &str, db: &Path) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            helper,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(payload) = line.strip_prefix("ACK ") {
            acked.push(payload.to_string());
            if acked.len() >= ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    if acked.len() < ACKS_BEFORE_KILL {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut stderr).ok();
        }
        panic!(
            "the child {helper} stopped after {} writes ({status}):\n{stderr}",
            acked.len()
        );
    }
    assert!(!status.success(), "the child was killed, not finished");
    acked
}

#[test]
fn durability_after_sigkill() {
    let dir = temp_dir("durability");
    let db = dir.join("chitin.db");
    let acked = run_child_and_kill("child_writer", &db);

    let store = Store::open(&db).unwrap();
    for key in &acked {
        assert!(
            store.kv_get("durable", key).unwrap().is_some(),
            "{key} was committed before the kill but is missing"
        );
    }
    let check: String = store
        .with_connection(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(check, "ok");
    // The usage counter is consistent with what is actually stored.
    let keys = store.kv_list_keys("durable", "", 2_000_000).unwrap();
    assert!(keys.len() >= acked.len());
    assert_eq!(
        store.kv_usage("durable").unwrap(),
        keys.iter().map(|k| k.len() as u64 + 8).sum::<u64>()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

const SESSION: &str = "agent:main:cli:default:dm:local";

#[test]
#[ignore = "helper process for messages_survive_sigkill; not a test on its own"]
fn child_message_writer() {
    let Some(path) = std::env::var_os(DB_ENV) else {
        return;
    };
    let store = Store::open(&PathBuf::from(path)).unwrap();
    store.session_get_or_create(SESSION, "main").unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000u64 {
        // Alternate single messages and a batch with a tool call and its result.
        let batch = if i % 2 == 0 {
            vec![NewMessage::user(format!("message {i}"))]
        } else {
            let mut call = NewMessage::assistant(format!("message {i}"));
            call.tool_calls = vec![ToolCallRecord {
                id: format!("call-{i}"),
                name: "echo".into(),
                arguments: format!("{{\"i\":{i}}}"),
            }];
            vec![
                call,
                NewMessage::tool_result(format!("call-{i}"), "echo", format!("result {i}"), false),
            ]
        };
        let ids = store.append_messages(SESSION, &batch).unwrap();
        for (id, message) in ids.iter().zip(&batch) {
            writeln!(out, "ACK {id} {}", message.content).unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn messages_survive_sigkill() {
    let dir = temp_dir("message-durability");
    let db = dir.join("chitin.db");
    let acked = run_child_and_kill("child_message_writer", &db);

    let store = Store::open(&db).unwrap();
    let transcript = store.transcript(SESSION).unwrap();
    let by_id: std::collections::HashMap<i64, &chitin_store::MessageRow> =
        transcript.iter().map(|m| (m.id, m)).collect();
    for ack in &acked {
        let (id, content) = ack.split_once(' ').unwrap();
        let id: i64 = id.parse().unwrap();
        let message = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("message {id} was committed before the kill but is missing"));
        assert_eq!(message.content, content);
    }
    // Nothing half-written: seqs are 1..=n without gaps, every tool call has its result, and
    // the session's counter matches the rows.
    assert!(transcript.len() >= acked.len());
    assert!(
        transcript.iter().zip(1..).all(|(m, seq)| m.seq == seq),
        "seqs have gaps"
    );
    for (i, m) in transcript.iter().enumerate() {
        if let Some(call) = m.tool_calls.first() {
            let result = &transcript[i + 1];
            assert_eq!(result.tool_call_id.as_deref(), Some(call.id.as_str()));
        }
    }
    assert_eq!(
        store.session_get(SESSION).unwrap().unwrap().message_count,
        transcript.len() as u64
    );
    let check: String = store
        .with_connection(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(check, "ok");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
