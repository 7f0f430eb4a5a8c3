//! Ahead-of-time compiled plugins, cached on disk.
//!
//! Compiling a component with cranelift costs 0.4 s of CPU for a small Rust plugin and 30-40 s
//! for a Python or JS one, so it happens once, when a plugin is installed or first loaded, and
//! never while serving. Artifacts are keyed by the sha256 of the `.wasm` and by the engine's
//! compatibility hash (wasmtime version, target, and every codegen-relevant setting), so a host
//! upgrade or a config change recompiles instead of loading an incompatible artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the compiled artifacts live, e.g. `~/.chitin/cache/aot`.
#[derive(Debug, Clone)]
pub struct AotCache {
    dir: PathBuf,
}

/// How a component was obtained, for the benchmark and for `plugin list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a cached artifact (an mmap: cheap).
    Hit,
    /// Compiled now and stored for next time.
    Compiled,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AotCache {
    pub fn new(dir: impl Into<PathBuf>) -> AotCache {
        AotCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A digest of everything that makes compiled code incompatible. `DefaultHasher::new()` is
    /// unkeyed, so every process of the same build computes the same value; another build may
    /// compute another one, which only costs a recompile.
    fn engine_key(engine: &Engine) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    pub fn artifact_path(&self, engine: &Engine, wasm_digest: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_digest}-{}.cwasm", Self::engine_key(engine)))
    }

    /// Returns the compiled component for `wasm`, compiling and caching it when needed.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_digest: &str,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let path = self.artifact_path(engine, wasm_digest);
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine with the same
            // compatibility hash (it is in the name), into a directory only this user writes
            // (0700). wasmtime additionally validates the artifact's header and engine settings.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => {
                    // A truncated artifact (crash mid-write on an old version) or a tampered one:
                    // recompile rather than fail the plugin.
                    tracing::warn!(path = %path.display(), error = %err, "discarding unusable AOT artifact");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the plugin's WebAssembly")?;
        create_private_dir(&self.dir)?;
        // Write to a unique temp name and rename, so a concurrent reader never maps half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &compiled)
            .with_context(|| format!("writing AOT artifact {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("storing AOT artifact {}", path.display()))?;
        // SAFETY: just written by this engine's precompile (see above).
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(anyhow::Error::from)
            .context("loading the freshly compiled artifact")?;
        Ok((component, CacheOutcome::Compiled))
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
    }
    Ok(())
}
