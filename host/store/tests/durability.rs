//! Committed writes survive the process being killed with SIGKILL.
//!
//! The test re-runs this test binary as a child that executes only `child_writer` (an ignored
//! test, so a normal run skips it). The child commits keys in a loop and reports each one on
//! stdout only after `kv_set` returned; the parent kills it mid-stream with SIGKILL (what
//! `Child::kill` sends on Unix), reopens the database and checks every reported key is there.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chitin_store::Store;

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

#[test]
fn durability_after_sigkill() {
    let dir = std::env::temp_dir().join(format!(
        "chitin-store-durability-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("chitin.db");

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(key) = line.strip_prefix("ACK ") {
            acked.push(key.to_string());
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
            "the child stopped after {} writes ({status}):\n{stderr}",
            acked.len()
        );
    }
    assert!(!status.success(), "the child was killed, not finished");

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
