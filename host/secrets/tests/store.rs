//! The encrypted store: round trips, persistence, keys and their failure modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chitin_secrets::{KeySource, SecretStore, SecretValue, SecretsError};

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
            "chitin-secrets-test-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file_key(dir: &TempDir) -> KeySource {
    KeySource::File {
        path: dir.join("secrets.key"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_key_file(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn envelope(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn round_trip() {
    let dir = TempDir::new();
    let mut store = SecretStore::open(&dir.join("secrets.enc"), &file_key(&dir)).unwrap();
    assert!(store.get("TOKEN").is_none());
    store
        .set("TOKEN", SecretValue::new("xoxb-123456-abcdef"))
        .unwrap();
    assert_eq!(store.get("TOKEN").unwrap().expose(), "xoxb-123456-abcdef");
    assert!(store.contains("TOKEN"));
    store
        .set("TOKEN", SecretValue::new("replaced-value"))
        .unwrap();
    assert_eq!(store.get("TOKEN").unwrap().expose(), "replaced-value");
    assert_eq!(store.all().len(), 1);
}

#[test]
fn persists_across_reopen() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    {
        let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
        store
            .set("B_KEY", SecretValue::new("value-b-1234"))
            .unwrap();
        store
            .set("A_KEY", SecretValue::new("value-a-5678"))
            .unwrap();
        store.set("GONE", SecretValue::new("value-gone")).unwrap();
        assert!(store.remove("GONE").unwrap());
        assert!(!store.remove("GONE").unwrap());
    }
    let store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    assert_eq!(store.get("A_KEY").unwrap().expose(), "value-a-5678");
    assert_eq!(store.get("B_KEY").unwrap().expose(), "value-b-1234");
    assert!(store.get("GONE").is_none());
    let names: Vec<String> = store.all().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["A_KEY", "B_KEY"]);
    assert!(store.list().iter().all(|info| info.updated_unix > 0));
}

#[test]
fn open_creates_empty_store_and_files_are_private() {
    let dir = TempDir::new();
    let path = dir.join("nested/dir/secrets.enc");
    let key = KeySource::File {
        path: dir.join("nested/dir/secrets.key"),
    };
    let store = SecretStore::open(&path, &key).unwrap();
    assert!(store.list().is_empty());
    assert!(path.exists(), "open creates the store file");
    assert_eq!(mode(&path), 0o600);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn file_format_and_fresh_nonce_per_write() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    store
        .set("TOKEN", SecretValue::new("plaintext-must-not-appear"))
        .unwrap();
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(!raw.contains("plaintext-must-not-appear"));
    assert!(!raw.contains("TOKEN"), "names are encrypted too");
    let first = envelope(&path);
    assert_eq!(first["format"], "chitin-secrets");
    assert_eq!(first["version"], 1);
    let nonce = BASE64.decode(first["nonce"].as_str().unwrap()).unwrap();
    assert_eq!(nonce.len(), 24);
    assert!(BASE64.decode(first["ciphertext"].as_str().unwrap()).is_ok());

    store
        .set("TOKEN", SecretValue::new("plaintext-must-not-appear"))
        .unwrap();
    let second = envelope(&path);
    assert_ne!(first["nonce"], second["nonce"]);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn key_file_is_created_0600_with_a_base64_key() {
    let dir = TempDir::new();
    let key_path = dir.join("secrets.key");
    SecretStore::open(&dir.join("secrets.enc"), &file_key(&dir)).unwrap();
    assert_eq!(mode(&key_path), 0o600);
    let text = std::fs::read_to_string(&key_path).unwrap();
    assert_eq!(BASE64.decode(text.trim()).unwrap().len(), 32);
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    SecretStore::open(&path, &file_key(&dir)).unwrap();
    let key_path = dir.join("secrets.key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SecretStore::open(&path, &file_key(&dir)).unwrap_err();
    assert!(
        matches!(err, SecretsError::KeyPermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("chmod 600 {}", key_path.display())),
        "{message}"
    );
    // The fix works.
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    SecretStore::open(&path, &file_key(&dir)).unwrap();
}

#[test]
fn missing_key_file_next_to_existing_store_is_not_replaced() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();
    std::fs::remove_file(dir.join("secrets.key")).unwrap();
    let err = SecretStore::open(&path, &file_key(&dir)).unwrap_err();
    assert!(
        matches!(err, SecretsError::KeyMissingForExistingStore { .. }),
        "{err:?}"
    );
    assert!(!dir.join("secrets.key").exists(), "no new key was created");
}

#[test]
fn wrong_key_is_reported_with_its_source() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();

    let other = dir.join("other.key");
    write_key_file(&other, BASE64.encode([7u8; 32]).as_bytes());
    let other_source = KeySource::File { path: other };
    let err = SecretStore::open(&path, &other_source).unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cannot be decrypted"), "{message}");
    assert!(message.contains(&other_source.describe()), "{message}");
    assert!(
        message.contains("must be the one that created the store"),
        "{message}"
    );
}

#[test]
fn tampered_ciphertext_is_refused() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();

    let mut env = envelope(&path);
    let mut ciphertext = BASE64.decode(env["ciphertext"].as_str().unwrap()).unwrap();
    ciphertext[3] ^= 0x01;
    env["ciphertext"] = BASE64.encode(&ciphertext).into();
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let err = SecretStore::open(&path, &file_key(&dir)).unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey { .. }), "{err:?}");

    // A swapped nonce fails the same way.
    ciphertext[3] ^= 0x01;
    env["ciphertext"] = BASE64.encode(&ciphertext).into();
    env["nonce"] = BASE64.encode([0u8; 24]).into();
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let err = SecretStore::open(&path, &file_key(&dir)).unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey { .. }), "{err:?}");
}

#[test]
fn corrupt_truncated_and_future_files_have_their_own_messages() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let mut store = SecretStore::open(&path, &file_key(&dir)).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();
    let good = std::fs::read(&path).unwrap();
    let open = || SecretStore::open(&path, &file_key(&dir)).unwrap_err();

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let err = open();
    assert!(matches!(err, SecretsError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged or truncated"), "{err}");

    std::fs::write(&path, b"").unwrap();
    let err = open();
    assert!(err.to_string().contains("the file is empty"), "{err}");

    std::fs::write(&path, br#"{"format":"something-else","version":1}"#).unwrap();
    let err = open();
    assert!(
        err.to_string().contains("not a chitin secret store"),
        "{err}"
    );

    let mut env: serde_json::Value = serde_json::from_slice(&good).unwrap();
    env["nonce"] = "***".into();
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let err = open();
    assert!(
        err.to_string().contains("nonce is not valid base64"),
        "{err}"
    );

    let mut env: serde_json::Value = serde_json::from_slice(&good).unwrap();
    env["version"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let err = open();
    assert!(
        matches!(
            err,
            SecretsError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade chitin"), "{err}");
}

#[test]
fn bad_key_files_have_their_own_messages() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let key_path = dir.join("secrets.key");
    let source = file_key(&dir);

    write_key_file(&key_path, b"not base64 at all!\n");
    let err = SecretStore::open(&path, &source).unwrap_err();
    assert!(matches!(err, SecretsError::KeyEncoding { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("not valid base64"), "{message}");
    assert!(message.contains(&source.describe()), "{message}");

    write_key_file(&key_path, BASE64.encode([1u8; 16]).as_bytes());
    let err = SecretStore::open(&path, &source).unwrap_err();
    assert!(
        matches!(err, SecretsError::KeyLength { len: 16, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("exactly 32 bytes"), "{err}");

    write_key_file(&key_path, b"   \n");
    let err = SecretStore::open(&path, &source).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    assert!(!path.exists(), "no store is created without a usable key");
}

#[test]
fn systemd_credential_raw_or_base64() {
    let dir = TempDir::new();
    let path = dir.join("secrets.enc");
    let raw_path = dir.join("raw-credential");
    let key = [42u8; 32];
    std::fs::write(&raw_path, key).unwrap();
    let raw = KeySource::SystemdCredential { path: raw_path };
    let mut store = SecretStore::open(&path, &raw).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();

    // The same key written as base64 opens the same store.
    let text_path = dir.join("text-credential");
    std::fs::write(&text_path, format!("{}\n", BASE64.encode(key))).unwrap();
    let text = KeySource::SystemdCredential { path: text_path };
    let store = SecretStore::open(&path, &text).unwrap();
    assert_eq!(store.get("TOKEN").unwrap().expose(), "value-123456");
    assert!(text.describe().starts_with("systemd credential "));

    let missing = KeySource::SystemdCredential {
        path: dir.join("absent"),
    };
    let err = SecretStore::open(&path, &missing).unwrap_err();
    assert!(
        matches!(err, SecretsError::KeyFileMissing { .. }),
        "{err:?}"
    );
}

#[test]
fn names_are_validated() {
    let dir = TempDir::new();
    let mut store = SecretStore::open(&dir.join("secrets.enc"), &file_key(&dir)).unwrap();
    let value = || SecretValue::new("value-123456");
    for good in ["A", "TELEGRAM_BOT_TOKEN", "a.b-c_9", &"x".repeat(128)] {
        store.set(good, value()).unwrap();
        assert!(chitin_secrets::is_valid_name(good));
    }
    let too_long = "x".repeat(129);
    for bad in [
        "",
        "has space",
        "a/b",
        "ключ",
        "{{secret:X}}",
        "a\nb",
        &too_long,
    ] {
        let err = store.set(bad, value()).unwrap_err();
        assert!(
            matches!(err, SecretsError::InvalidName { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains("A-Z, a-z, 0-9"), "{err}");
        assert!(!chitin_secrets::is_valid_name(bad));
    }
    assert!(matches!(
        store.remove("a/b").unwrap_err(),
        SecretsError::InvalidName { .. }
    ));
    let err = store.set("EMPTY", SecretValue::new("")).unwrap_err();
    assert!(matches!(err, SecretsError::EmptyValue { .. }), "{err:?}");
    assert!(store.get("EMPTY").is_none());
}

#[test]
fn list_never_exposes_values() {
    let dir = TempDir::new();
    let mut store = SecretStore::open(&dir.join("secrets.enc"), &file_key(&dir)).unwrap();
    store
        .set("ZED", SecretValue::new("zed-value-abcdef"))
        .unwrap();
    store.set("ALPHA", SecretValue::new("alpha-val")).unwrap();
    let list = store.list();
    let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["ALPHA", "ZED"]);
    assert_eq!(list[0].length, 9);
    assert_eq!(list[1].length, 16);
    let printed = format!("{list:?} {store:?}");
    assert!(!printed.contains("zed-value"), "{printed}");
    assert!(!printed.contains("alpha-val"), "{printed}");

    let value = store.get("ZED").unwrap();
    assert_eq!(format!("{value:?}"), "[secret]");
    assert_eq!(format!("{value}"), "[secret]");
}

#[test]
fn a_failed_write_leaves_the_store_unchanged() {
    let dir = TempDir::new();
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("secrets.enc");
    let key = KeySource::File {
        path: dir.join("secrets.key"),
    };
    let mut store = SecretStore::open(&path, &key).unwrap();
    store.set("KEEP", SecretValue::new("keep-123456")).unwrap();
    // Swap the store's directory for a plain file: the temporary file cannot be created
    // (this fails for root too, unlike a read-only directory).
    let moved = dir.join("sub-moved");
    std::fs::rename(&sub, &moved).unwrap();
    std::fs::write(&sub, b"not a directory").unwrap();
    let err = store
        .set("NEW", SecretValue::new("new-123456"))
        .unwrap_err();
    assert!(matches!(err, SecretsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("secret store"), "{err}");
    assert!(store.get("NEW").is_none(), "the failed set is rolled back");
    assert!(
        store.remove("KEEP").is_err(),
        "a failed remove reports the error"
    );
    assert_eq!(store.get("KEEP").unwrap().expose(), "keep-123456");

    std::fs::remove_file(&sub).unwrap();
    std::fs::rename(&moved, &sub).unwrap();
    let reopened = SecretStore::open(&path, &key).unwrap();
    assert!(reopened.get("NEW").is_none());
    assert_eq!(reopened.get("KEEP").unwrap().expose(), "keep-123456");
}

#[test]
fn store_and_redactor_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SecretStore>();
    assert_send_sync::<chitin_secrets::Redactor>();
    assert_send_sync::<SecretValue>();
}
