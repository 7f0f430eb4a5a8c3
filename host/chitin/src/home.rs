//! The data directory and what lives in it.

use std::path::{Path, PathBuf};

/// `~/.chitin` (or `$CHITIN_HOME`):
/// `chitin.toml` (config), `chitin.db` (SQLite), `secrets.enc` + `secrets.key` (secret store and
/// its key, kept apart), `cache/aot/` (compiled plugins).
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn resolve(explicit: Option<PathBuf>) -> Home {
        let root = explicit.unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".chitin")
        });
        Home { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_file(&self) -> PathBuf {
        self.root.join("chitin.toml")
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("chitin.db")
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.root.join("secrets.enc")
    }

    pub fn aot_cache(&self) -> PathBuf {
        self.root.join("cache").join("aot")
    }

    /// Creates the directory, private to its owner.
    pub fn ensure(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.root)
            .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", self.root.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }
}
