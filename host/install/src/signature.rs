//! Plugin signatures: an Ed25519 signature in a custom section appended to the `.wasm`.
//!
//! The format, exactly:
//!
//! ```text
//! canonical = the .wasm with every top-level custom section named "chitin-signature" removed
//!             (each whole section: id byte, size, name and payload); all other bytes, in order
//! digest    = SHA-256(canonical)
//! message   = "chitin-plugin-signature/v1\n"
//!             "publisher:" <publisher> "\n"
//!             "sha256:" <lowercase hex of digest> "\n"          (UTF-8, no other bytes)
//! signature = Ed25519(private key, message)                      (RFC 8032, pure Ed25519)
//! ```
//!
//! The section `chitin-signature` is appended at the end of the file and holds compact JSON:
//!
//! ```json
//! {"version":1,"algorithm":"ed25519","key_id":"ed25519:<32 hex>","publisher":"Acme",
//!  "public_key":"<base64 of the 32-byte key>","signature":"<base64 of the 64-byte signature>"}
//! ```
//!
//! `key_id` is `ed25519:` and the lowercase hex of the first 16 bytes of SHA-256 of the raw
//! public key; a section whose `key_id` does not match its `public_key` is refused. The publisher
//! name is signed, so nobody but the key holder can change what the consent prompt shows; it
//! is a claim, and trust is always decided by the full public key (see [`crate::trust`]).
//! Re-signing removes the old section first, so a file carries at most one signature; a file
//! with two is refused. Anything appended after signing (another section, a re-packed manifest)
//! changes `canonical` and breaks the signature.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::wasm;

/// Name of the custom section that carries the signature.
pub const SIGNATURE_SECTION: &str = "chitin-signature";
/// The only format version so far.
pub const SIGNATURE_VERSION: u32 = 1;
const DOMAIN: &str = "chitin-plugin-signature/v1";
const MAX_PUBLISHER_CHARS: usize = 100;

/// The JSON payload of the `chitin-signature` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSection {
    pub version: u32,
    pub algorithm: String,
    pub key_id: String,
    pub publisher: String,
    /// Standard base64 (with padding) of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    /// Standard base64 of the 64-byte signature over [`signed_message`].
    pub signature: String,
}

/// Who signed a plugin, once the signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub key_id: String,
    pub public_key: Vec<u8>,
    /// The publisher name the key holder signed (a claim, not an identity).
    pub publisher: String,
}

impl Signer {
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(&self.public_key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    Unsigned,
    Signed(Signer),
}

/// Why a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{0}")]
    NotWasm(String),
    #[error(
        "the file carries {count} `{SIGNATURE_SECTION}` sections; a signed plugin has exactly \
         one (re-sign it with `chitin plugin sign`)"
    )]
    Duplicate { count: usize },
    #[error("its signature section is malformed: {0}")]
    Malformed(String),
    #[error(
        "its signature section claims key {claimed}, but the public key it carries is key \
         {actual}: the signature was tampered with"
    )]
    KeyIdMismatch { claimed: String, actual: String },
    #[error(
        "its signature is invalid: the file was changed after it was signed, or it was not \
         signed by the key it names ({key_id}, publisher \"{publisher}\")"
    )]
    Invalid { key_id: String, publisher: String },
}

/// `ed25519:` + hex of the first 16 bytes of SHA-256 of the raw public key.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    format!("ed25519:{}", hex::encode(&digest[..16]))
}

/// The bytes the signature covers: the file without its signature section(s).
pub fn canonical_bytes(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    wasm::without_sections(wasm, SIGNATURE_SECTION)
}

/// The message that is signed for a file whose canonical bytes hash to `digest`.
pub fn signed_message(publisher: &str, digest: &[u8]) -> Vec<u8> {
    format!(
        "{DOMAIN}\npublisher:{publisher}\nsha256:{}\n",
        hex::encode(digest)
    )
    .into_bytes()
}

/// A publisher name is shown in consent prompts: 1 to 100 characters, no control characters.
pub fn check_publisher(publisher: &str) -> Result<(), String> {
    let count = publisher.chars().count();
    if publisher.trim().is_empty() || count > MAX_PUBLISHER_CHARS {
        return Err(format!(
            "a publisher name has 1 to {MAX_PUBLISHER_CHARS} characters (it has {count})"
        ));
    }
    if let Some(c) = publisher.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the publisher name contains the control character {c:?}"
        ));
    }
    Ok(())
}

/// An author's Ed25519 key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key and its PKCS#8 (v2, DER) encoding.
    pub fn generate() -> anyhow::Result<(SigningKey, Vec<u8>)> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
        let key = SigningKey::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// A key from PKCS#8, DER or PEM (`-----BEGIN PRIVATE KEY-----`), v1 or v2: what
    /// `chitin plugin keygen` writes, or `openssl genpkey -algorithm ed25519`.
    pub fn from_pkcs8(bytes: &[u8]) -> anyhow::Result<SigningKey> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN PRIVATE KEY-----") => {
                let body: String = text
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .map(str::trim)
                    .collect();
                BASE64
                    .decode(body)
                    .map_err(|_| anyhow::anyhow!("the PEM private key is not valid base64"))?
            }
            _ => bytes.to_vec(),
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|err| anyhow::anyhow!("not an Ed25519 private key in PKCS#8 ({err})"))?;
        Ok(SigningKey { pair })
    }

    pub fn from_file(path: &Path) -> anyhow::Result<SigningKey> {
        let bytes = std::fs::read(path)
            .map_err(|err| anyhow::anyhow!("reading key {}: {err}", path.display()))?;
        SigningKey::from_pkcs8(&bytes).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.public_key())
    }

    pub fn key_id(&self) -> String {
        key_id(self.public_key())
    }
}

/// Writes a new key to `path` (which must not exist), readable by its owner only.
pub fn write_new_key(path: &Path) -> anyhow::Result<SigningKey> {
    use std::io::Write as _;
    let (key, pkcs8) = SigningKey::generate()?;
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; choose another path (a key is never overwritten)",
                path.display()
            )
        } else {
            anyhow::anyhow!("creating {}: {err}", path.display())
        }
    })?;
    file.write_all(&pkcs8)?;
    file.sync_all()?;
    Ok(key)
}

/// Returns `wasm` signed by `key` as `publisher`, replacing any previous signature.
pub fn sign(wasm: &[u8], key: &SigningKey, publisher: &str) -> anyhow::Result<Vec<u8>> {
    check_publisher(publisher).map_err(|err| anyhow::anyhow!(err))?;
    let canonical = canonical_bytes(wasm)?;
    let digest = Sha256::digest(&canonical);
    let signature = key.pair.sign(&signed_message(publisher, &digest));
    let section = SignatureSection {
        version: SIGNATURE_VERSION,
        algorithm: "ed25519".to_string(),
        key_id: key.key_id(),
        publisher: publisher.to_string(),
        public_key: key.public_key_base64(),
        signature: BASE64.encode(signature.as_ref()),
    };
    let json = serde_json::to_vec(&section)?;
    wasm::append_section(&canonical, SIGNATURE_SECTION, &json)
}

/// The signature section as written, without checking it (for tests and diagnostics).
pub fn read_section(wasm: &[u8]) -> Result<Option<SignatureSection>, SignatureError> {
    let sections =
        wasm::custom_sections(wasm).map_err(|err| SignatureError::NotWasm(err.to_string()))?;
    let ours: Vec<_> = sections
        .iter()
        .filter(|s| s.name == SIGNATURE_SECTION)
        .collect();
    match ours.as_slice() {
        [] => Ok(None),
        [one] => serde_json::from_slice(&wasm[one.data.clone()])
            .map(Some)
            .map_err(|err| SignatureError::Malformed(err.to_string())),
        more => Err(SignatureError::Duplicate { count: more.len() }),
    }
}

/// Checks the signature of `wasm`: unsigned, or signed by the key it names. Whether that key
/// is trusted is a separate question ([`crate::trust::Keyring`]).
pub fn verify(wasm: &[u8]) -> Result<SignatureStatus, SignatureError> {
    let Some(section) = read_section(wasm)? else {
        return Ok(SignatureStatus::Unsigned);
    };
    if section.version != SIGNATURE_VERSION {
        return Err(SignatureError::Malformed(format!(
            "version {} is not supported (this Chitin reads version {SIGNATURE_VERSION}); \
             upgrade Chitin",
            section.version
        )));
    }
    if section.algorithm != "ed25519" {
        return Err(SignatureError::Malformed(format!(
            "algorithm `{}` is not supported (only ed25519)",
            section.algorithm
        )));
    }
    check_publisher(&section.publisher).map_err(SignatureError::Malformed)?;
    let public_key = BASE64
        .decode(&section.public_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            SignatureError::Malformed("public_key is not 32 bytes of base64".to_string())
        })?;
    let signature = BASE64
        .decode(&section.signature)
        .ok()
        .filter(|s| s.len() == 64)
        .ok_or_else(|| {
            SignatureError::Malformed("signature is not 64 bytes of base64".to_string())
        })?;
    let actual = key_id(&public_key);
    if section.key_id != actual {
        return Err(SignatureError::KeyIdMismatch {
            claimed: section.key_id,
            actual,
        });
    }
    let canonical =
        canonical_bytes(wasm).map_err(|err| SignatureError::NotWasm(err.to_string()))?;
    let digest = Sha256::digest(&canonical);
    UnparsedPublicKey::new(&ED25519, &public_key)
        .verify(&signed_message(&section.publisher, &digest), &signature)
        .map_err(|_| SignatureError::Invalid {
            key_id: section.key_id.clone(),
            publisher: section.publisher.clone(),
        })?;
    Ok(SignatureStatus::Signed(Signer {
        key_id: section.key_id,
        public_key,
        publisher: section.publisher,
    }))
}

/// Replaces the signature section of `wasm` with `section` as given (tests forge signatures
/// with it).
pub fn replace_section(wasm: &[u8], section: &SignatureSection) -> anyhow::Result<Vec<u8>> {
    let canonical = canonical_bytes(wasm)?;
    wasm::append_section(&canonical, SIGNATURE_SECTION, &serde_json::to_vec(section)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        wasm::append_section(b"\0asm\x0d\x00\x01\x00", "chitin-manifest", b"{}").unwrap()
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        assert_eq!(
            SigningKey::from_pkcs8(&pkcs8).unwrap().key_id(),
            key.key_id()
        );
        let signed = sign(&sample(), &key, "Acme").unwrap();
        match verify(&signed).unwrap() {
            SignatureStatus::Signed(signer) => {
                assert_eq!(signer.key_id, key.key_id());
                assert_eq!(signer.publisher, "Acme");
                assert_eq!(signer.public_key, key.public_key());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(verify(&sample()).unwrap(), SignatureStatus::Unsigned);
        // Re-signing replaces, never stacks.
        let (other, _) = SigningKey::generate().unwrap();
        let resigned = sign(&signed, &other, "Other").unwrap();
        assert_eq!(canonical_bytes(&resigned).unwrap(), sample());
        assert!(
            matches!(verify(&resigned).unwrap(), SignatureStatus::Signed(s) if s.key_id == other.key_id())
        );
    }

    #[test]
    fn tampering_is_detected() {
        let (key, _) = SigningKey::generate().unwrap();
        let signed = sign(&sample(), &key, "Acme").unwrap();

        // One byte of the manifest changed.
        let mut flipped = signed.clone();
        let at = flipped.windows(2).position(|w| w == b"{}").unwrap();
        flipped[at] = b'[';
        assert!(matches!(
            verify(&flipped),
            Err(SignatureError::Invalid { .. })
        ));

        // A section appended after signing.
        let appended = wasm::append_section(&signed, "extra", b"x").unwrap();
        assert!(matches!(
            verify(&appended),
            Err(SignatureError::Invalid { .. })
        ));

        // The publisher name is signed.
        let mut section = read_section(&signed).unwrap().unwrap();
        section.publisher = "Someone else".into();
        assert!(matches!(
            verify(&replace_section(&signed, &section).unwrap()),
            Err(SignatureError::Invalid { .. })
        ));

        // Claiming another key: with its id only, or with its public key too.
        let (b, _) = SigningKey::generate().unwrap();
        let mut section = read_section(&signed).unwrap().unwrap();
        section.key_id = b.key_id();
        assert!(matches!(
            verify(&replace_section(&signed, &section).unwrap()),
            Err(SignatureError::KeyIdMismatch { .. })
        ));
        section.public_key = b.public_key_base64();
        assert!(matches!(
            verify(&replace_section(&signed, &section).unwrap()),
            Err(SignatureError::Invalid { .. })
        ));

        // Two signature sections.
        let twice = wasm::append_section(
            &signed,
            SIGNATURE_SECTION,
            &serde_json::to_vec(&section).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            verify(&twice),
            Err(SignatureError::Duplicate { count: 2 })
        ));
    }

    #[test]
    fn pem_keys_are_read() {
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            BASE64.encode(&pkcs8)
        );
        assert_eq!(
            SigningKey::from_pkcs8(pem.as_bytes()).unwrap().key_id(),
            key.key_id()
        );
        assert!(SigningKey::from_pkcs8(b"nonsense").is_err());
    }

    #[test]
    fn publisher_names_are_checked() {
        assert!(check_publisher("Acme Corp").is_ok());
        assert!(check_publisher("").is_err());
        assert!(check_publisher("evil\x1b[2J").is_err());
        assert!(check_publisher(&"x".repeat(101)).is_err());
    }
}
