//! Re-checking an installed plugin against the lockfile (`chitin plugin list --verify`).

use std::fmt;
use std::path::{Path, PathBuf};

use chitin_manifest::Grant;

use crate::lock::{LockEntry, UNSIGNED};
use crate::signature::{self, SignatureStatus};
use crate::trust::{Keyring, Trust};

/// One reason an installed plugin would not load, or should not be trusted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    MissingFile(PathBuf),
    Unreadable {
        path: PathBuf,
        error: String,
    },
    /// The file's digest is not the one recorded at install.
    Tampered {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    SignatureInvalid(String),
    /// Installed signed, now unsigned, or signed by another key.
    SignerChanged {
        locked: String,
        now: String,
    },
    /// Signed by a key no longer in trusted-keys.toml or a configured keyring.
    SignerNotTrusted(String),
    ManifestInvalid(String),
    IdMismatch {
        expected: String,
        found: String,
    },
    /// chitin.toml grants more than the manifest requests (or something that does not resolve).
    GrantInvalid(String),
    /// In the lockfile, but chitin.toml has no `[plugins.<id>]`.
    NotConfigured,
    /// chitin.toml loads another file than the one installed.
    PathDiffers {
        configured: PathBuf,
        installed: PathBuf,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingFile(path) => write!(
                f,
                "missing file: {} does not exist (reinstall it with `chitin plugin update`)",
                path.display()
            ),
            Problem::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            Problem::Tampered {
                path,
                expected,
                actual,
            } => write!(
                f,
                "tampered: {} has sha256 {actual}, but {expected} was installed; the file was \
                 changed after installation",
                path.display()
            ),
            Problem::SignatureInvalid(why) => write!(f, "signature: {why}"),
            Problem::SignerChanged { locked, now } => write!(
                f,
                "signer changed: installed as signed by {locked}, the file is now signed by {now}"
            ),
            Problem::SignerNotTrusted(key) => write!(
                f,
                "signer {key} is no longer trusted (not in trusted-keys.toml or a keyring)"
            ),
            Problem::ManifestInvalid(why) => write!(f, "manifest invalid: {why}"),
            Problem::IdMismatch { expected, found } => {
                write!(f, "the file is plugin `{found}`, not `{expected}`")
            }
            Problem::GrantInvalid(why) => write!(f, "grant refused: {why}"),
            Problem::NotConfigured => write!(
                f,
                "not configured: chitin.toml has no [plugins.<id>] section for it (run `chitin \
                 plugin remove` to clean up, or add the section back)"
            ),
            Problem::PathDiffers {
                configured,
                installed,
            } => write!(
                f,
                "chitin.toml loads {} instead of the installed {}",
                configured.display(),
                installed.display()
            ),
        }
    }
}

/// What chitin.toml says about the plugin: its path (absolute) and grant.
pub struct Configured<'a> {
    pub path: Option<&'a Path>,
    pub grant: &'a Grant,
}

/// Checks the installed file of `id` against its lock entry, its signature, its manifest and
/// the configured grant. Empty when everything is in order.
pub fn check_installed(
    home: &Path,
    id: &str,
    entry: &LockEntry,
    keyring: &Keyring,
    configured: Option<Configured<'_>>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let path = home.join(&entry.file);
    match &configured {
        None => problems.push(Problem::NotConfigured),
        Some(c) => {
            if let Some(p) = c.path
                && !same_file(p, &path)
            {
                problems.push(Problem::PathDiffers {
                    configured: p.to_path_buf(),
                    installed: path.clone(),
                });
            }
        }
    }
    let wasm = match std::fs::read(&path) {
        Ok(wasm) => wasm,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            problems.push(Problem::MissingFile(path));
            return problems;
        }
        Err(err) => {
            problems.push(Problem::Unreadable {
                path,
                error: err.to_string(),
            });
            return problems;
        }
    };
    let actual = crate::sha256_hex(&wasm);
    if actual != entry.sha256 {
        problems.push(Problem::Tampered {
            path: path.clone(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    match signature::verify(&wasm) {
        Err(err) => problems.push(Problem::SignatureInvalid(err.to_string())),
        Ok(SignatureStatus::Unsigned) => {
            if entry.signer != UNSIGNED {
                problems.push(Problem::SignerChanged {
                    locked: entry.signer.clone(),
                    now: "nobody (the signature was removed)".to_string(),
                });
            }
        }
        Ok(SignatureStatus::Signed(signer)) => {
            if signer.key_id != entry.signer {
                problems.push(Problem::SignerChanged {
                    locked: entry.signer.clone(),
                    now: signer.key_id.clone(),
                });
            } else if keyring.check(&signer) == Trust::Unknown {
                problems.push(Problem::SignerNotTrusted(signer.key_id.clone()));
            }
        }
    }
    let manifest = match chitin_manifest::extract_manifest(&wasm) {
        Ok(m) => m,
        Err(err) => {
            problems.push(Problem::ManifestInvalid(err.to_string()));
            return problems;
        }
    };
    if let Err(err) = manifest.check_wit_version() {
        problems.push(Problem::ManifestInvalid(err.to_string()));
    }
    if manifest.id != id {
        problems.push(Problem::IdMismatch {
            expected: id.to_string(),
            found: manifest.id.clone(),
        });
    }
    if let Some(c) = configured
        && let Err(err) = c.grant.resolve(&manifest)
    {
        problems.push(Problem::GrantInvalid(err.to_string()));
    }
    problems
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
