//! Key discovery and environment keys, with the environment injected: tests must not mutate
//! the process environment, which other test threads read concurrently.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::key::discover_with;
use crate::{KeySource, SecretStore, SecretValue, SecretsError};

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let path = std::env::temp_dir().join(format!(
        "chitin-secrets-unit-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let pairs: Vec<(String, OsString)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
}

#[test]
fn discover_prefers_env_then_systemd_then_file() {
    let home = Path::new("/home/u/.chitin");
    let creds = temp_dir("creds");
    let creds_str = creds.to_str().unwrap();

    assert_eq!(
        discover_with(home, env_of(&[])),
        KeySource::File {
            path: home.join("secrets.key")
        }
    );
    // A credentials directory without our credential is not ours.
    assert_eq!(
        discover_with(home, env_of(&[("CREDENTIALS_DIRECTORY", creds_str)])),
        KeySource::File {
            path: home.join("secrets.key")
        }
    );
    std::fs::write(creds.join("chitin-secrets-key"), [1u8; 32]).unwrap();
    assert_eq!(
        discover_with(home, env_of(&[("CREDENTIALS_DIRECTORY", creds_str)])),
        KeySource::SystemdCredential {
            path: creds.join("chitin-secrets-key")
        }
    );
    let both = env_of(&[
        ("CREDENTIALS_DIRECTORY", creds_str),
        ("CHITIN_SECRETS_KEY", "x"),
    ]);
    let found = discover_with(home, both);
    assert_eq!(
        found,
        KeySource::Env {
            var: "CHITIN_SECRETS_KEY".to_string()
        }
    );
    assert_eq!(
        found.describe(),
        "the environment variable CHITIN_SECRETS_KEY"
    );
    assert_eq!(
        KeySource::File {
            path: PathBuf::from("/x/secrets.key")
        }
        .describe(),
        "key file /x/secrets.key"
    );
    let _ = std::fs::remove_dir_all(&creds);
}

#[test]
fn env_key_opens_and_reopens_the_store() {
    let dir = temp_dir("env");
    let path = dir.join("secrets.enc");
    let source = KeySource::Env {
        var: "CHITIN_SECRETS_KEY".to_string(),
    };
    let key = BASE64.encode([9u8; 32]);
    let env = env_of(&[("CHITIN_SECRETS_KEY", &key)]);
    let mut store = SecretStore::open_with_env(&path, &source, &env).unwrap();
    store
        .set("TOKEN", SecretValue::new("value-123456"))
        .unwrap();
    drop(store);
    let store = SecretStore::open_with_env(&path, &source, &env).unwrap();
    assert_eq!(store.get("TOKEN").unwrap().expose(), "value-123456");
    assert!(
        !dir.join("secrets.key").exists(),
        "no key file with an env key"
    );

    // Padding-free and URL-safe spellings of the same key work too.
    let unpadded = key.trim_end_matches('=').to_string();
    SecretStore::open_with_env(&path, &source, env_of(&[("CHITIN_SECRETS_KEY", &unpadded)]))
        .unwrap();

    let other = BASE64.encode([8u8; 32]);
    let err = SecretStore::open_with_env(&path, &source, env_of(&[("CHITIN_SECRETS_KEY", &other)]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("with the key from the environment variable CHITIN_SECRETS_KEY"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn env_key_errors() {
    let dir = temp_dir("env-errors");
    let path = dir.join("secrets.enc");
    let source = KeySource::Env {
        var: "CHITIN_SECRETS_KEY".to_string(),
    };
    let err = SecretStore::open_with_env(&path, &source, env_of(&[])).unwrap_err();
    assert!(matches!(err, SecretsError::KeyEnvMissing { .. }), "{err:?}");

    let err = SecretStore::open_with_env(&path, &source, env_of(&[("CHITIN_SECRETS_KEY", "")]))
        .unwrap_err();
    assert!(err.to_string().contains("it is empty"), "{err}");

    let err =
        SecretStore::open_with_env(&path, &source, env_of(&[("CHITIN_SECRETS_KEY", "zz!zz")]))
            .unwrap_err();
    assert!(matches!(err, SecretsError::KeyEncoding { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("33"),
        "the bad byte is not quoted: {err}"
    );

    let short = BASE64.encode([1u8; 31]);
    let err = SecretStore::open_with_env(&path, &source, env_of(&[("CHITIN_SECRETS_KEY", &short)]))
        .unwrap_err();
    assert!(
        matches!(err, SecretsError::KeyLength { len: 31, .. }),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
