//! The plugin key-value store: CRUD, isolation, quotas, prefixes, persistence, schema versions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use chitin_store::{MAX_KEY_BYTES, MAX_VALUE_BYTES, SCHEMA_VERSION, Store, StoreError};

const BIG: u64 = 1 << 30;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "chitin-store-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn crud() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.kv_get("p", "k").unwrap(), None);
    store.kv_set("p", "k", b"v1", BIG).unwrap();
    assert_eq!(store.kv_get("p", "k").unwrap(), Some(b"v1".to_vec()));
    store.kv_set("p", "k", b"value-2", BIG).unwrap();
    assert_eq!(store.kv_get("p", "k").unwrap(), Some(b"value-2".to_vec()));
    // Empty values and arbitrary bytes are values like any other.
    store.kv_set("p", "empty", b"", BIG).unwrap();
    assert_eq!(store.kv_get("p", "empty").unwrap(), Some(Vec::new()));
    store.kv_set("p", "bin", &[0, 255, 0, 1], BIG).unwrap();
    assert_eq!(store.kv_get("p", "bin").unwrap(), Some(vec![0, 255, 0, 1]));
    assert!(store.kv_delete("p", "k").unwrap());
    assert!(!store.kv_delete("p", "k").unwrap());
    assert_eq!(store.kv_get("p", "k").unwrap(), None);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn namespaces_are_isolated() {
    let store = Store::open_in_memory().unwrap();
    store.kv_set("plugin-a", "key", b"from a", BIG).unwrap();
    store.kv_set("plugin-b", "key", b"from b", BIG).unwrap();
    assert_eq!(
        store.kv_get("plugin-a", "key").unwrap(),
        Some(b"from a".to_vec())
    );
    assert_eq!(
        store.kv_get("plugin-b", "key").unwrap(),
        Some(b"from b".to_vec())
    );
    assert!(store.kv_delete("plugin-a", "key").unwrap());
    assert_eq!(
        store.kv_get("plugin-b", "key").unwrap(),
        Some(b"from b".to_vec())
    );
    assert_eq!(
        store.kv_list_keys("plugin-a", "", 100).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(store.kv_list_keys("plugin-b", "", 100).unwrap(), ["key"]);
    assert_eq!(store.kv_usage("plugin-a").unwrap(), 0);
    assert_eq!(store.kv_usage("plugin-b").unwrap(), 3 + 6);
}

#[test]
fn quota_is_enforced_exactly_at_the_boundary() {
    let store = Store::open_in_memory().unwrap();
    let quota = 20;
    // "k1" + 8 bytes = 10; "k2" + 8 bytes = 10: exactly 20 fits.
    store.kv_set("p", "k1", &[1; 8], quota).unwrap();
    store.kv_set("p", "k2", &[2; 8], quota).unwrap();
    assert_eq!(store.kv_usage("p").unwrap(), 20);

    // One byte over is refused and changes nothing.
    let err = store.kv_set("p", "k3", b"", quota).unwrap_err();
    match &err {
        StoreError::QuotaExceeded {
            namespace,
            used,
            requested,
            would_use,
            quota: q,
        } => {
            assert_eq!(namespace, "p");
            assert_eq!((*used, *requested, *would_use, *q), (20, 2, 22, 20));
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert!(err.to_string().contains("quota_bytes"), "{err}");
    assert_eq!(store.kv_get("p", "k3").unwrap(), None);
    assert_eq!(store.kv_usage("p").unwrap(), 20);

    // Replacing a value counts the new size, not old + new.
    store.kv_set("p", "k1", &[9; 8], quota).unwrap();
    assert_eq!(store.kv_usage("p").unwrap(), 20);
    let err = store.kv_set("p", "k1", &[9; 9], quota).unwrap_err();
    assert!(
        matches!(err, StoreError::QuotaExceeded { would_use: 21, .. }),
        "{err:?}"
    );
    assert_eq!(
        store.kv_get("p", "k1").unwrap(),
        Some(vec![9; 8]),
        "unchanged"
    );
    // Shrinking always fits, and frees room for the next write.
    store.kv_set("p", "k1", &[7; 3], quota).unwrap();
    assert_eq!(store.kv_usage("p").unwrap(), 15);
    store.kv_set("p", "k3", &[3; 3], quota).unwrap();
    assert_eq!(store.kv_usage("p").unwrap(), 20);
    // Deleting gives the bytes back.
    assert!(store.kv_delete("p", "k2").unwrap());
    assert_eq!(store.kv_usage("p").unwrap(), 10);
    // Other namespaces have their own budget.
    store.kv_set("q", "k1", &[1; 18], quota).unwrap();
}

#[test]
fn quota_counts_bytes_not_characters() {
    let store = Store::open_in_memory().unwrap();
    // "ключ" is 4 characters but 8 bytes; "значение" is 16 bytes.
    store
        .kv_set("p", "ключ", "значение".as_bytes(), 24)
        .unwrap();
    assert_eq!(store.kv_usage("p").unwrap(), 24);
    assert!(store.kv_set("p", "ключ2", b"", 24).is_err());
}

#[test]
fn size_limits() {
    let store = Store::open_in_memory().unwrap();
    let key = "k".repeat(MAX_KEY_BYTES);
    store.kv_set("p", &key, b"v", BIG).unwrap();
    let too_long = "k".repeat(MAX_KEY_BYTES + 1);
    let err = store.kv_set("p", &too_long, b"v", BIG).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::KeyTooLarge {
                size: 1025,
                max: 1024
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        store.kv_get("p", &too_long).unwrap_err(),
        StoreError::KeyTooLarge { .. }
    ));
    let value = vec![0u8; MAX_VALUE_BYTES + 1];
    let err = store.kv_set("p", "big", &value, BIG).unwrap_err();
    assert!(matches!(err, StoreError::ValueTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("16777216"), "{err}");
    store
        .kv_set("p", "big", &value[..MAX_VALUE_BYTES], BIG)
        .unwrap();
}

#[test]
fn list_keys_matches_prefix_literally() {
    let store = Store::open_in_memory().unwrap();
    for key in [
        "100%",
        "100%_done",
        "1000",
        "a_b",
        "a_b/c",
        "aXb",
        "a%b",
        "A_B",
        "b",
        "a_",
        "a",
    ] {
        store.kv_set("p", key, b"", BIG).unwrap();
    }
    store.kv_set("other", "a_b_other", b"", BIG).unwrap();
    assert_eq!(
        store.kv_list_keys("p", "100%", 10).unwrap(),
        ["100%", "100%_done"]
    );
    assert_eq!(
        store.kv_list_keys("p", "a_", 10).unwrap(),
        ["a_", "a_b", "a_b/c"]
    );
    assert_eq!(store.kv_list_keys("p", "a%", 10).unwrap(), ["a%b"]);
    assert_eq!(
        store.kv_list_keys("p", "%", 10).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.kv_list_keys("p", "_", 10).unwrap(),
        Vec::<String>::new()
    );
    // Case-sensitive, sorted by bytes.
    assert_eq!(store.kv_list_keys("p", "A", 10).unwrap(), ["A_B"]);
    assert_eq!(
        store.kv_list_keys("p", "", 100).unwrap(),
        [
            "100%",
            "100%_done",
            "1000",
            "A_B",
            "a",
            "a%b",
            "aXb",
            "a_",
            "a_b",
            "a_b/c",
            "b"
        ]
    );
    // Limits.
    assert_eq!(store.kv_list_keys("p", "a", 2).unwrap(), ["a", "a%b"]);
    assert_eq!(
        store.kv_list_keys("p", "a", 0).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn persists_across_reopen() {
    let dir = TempDir::new();
    let path = dir.0.join("nested/chitin.db");
    {
        let store = Store::open(&path).unwrap();
        store.kv_set("p", "kept", b"yes", BIG).unwrap();
        store.kv_set("p", "dropped", b"no", BIG).unwrap();
        store.kv_delete("p", "dropped").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.kv_get("p", "kept").unwrap(), Some(b"yes".to_vec()));
    assert_eq!(store.kv_get("p", "dropped").unwrap(), None);
    assert_eq!(store.kv_usage("p").unwrap(), 4 + 3);
    let mode: String = store
        .with_connection(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = store
        .with_connection(|c| Ok(c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let path = dir.0.join("chitin.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 5 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade chitin"), "{err}");
}

#[test]
fn a_non_database_file_is_an_error_not_a_panic() {
    let dir = TempDir::new();
    let path = dir.0.join("chitin.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
}

#[test]
fn concurrent_writers_share_one_store() {
    let store = std::sync::Arc::new(Store::open_in_memory().unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store.kv_set("p", &format!("{t}-{i:02}"), b"1234", 400).ok();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each entry is 4 (key) + 4 (value) = 8 bytes: exactly 50 fit in 400, never more.
    assert_eq!(store.kv_usage("p").unwrap(), 400);
    assert_eq!(store.kv_list_keys("p", "", 1000).unwrap().len(), 50);
}
