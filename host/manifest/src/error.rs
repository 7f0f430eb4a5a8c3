//! Errors about a manifest or the binary that carries it.

use crate::pattern::PatternError;

/// Why a manifest (or the `.wasm` it should be embedded in) was refused. Every message names what
/// is wrong and how to fix it; callers prefix the file name.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "not a WebAssembly file: it does not start with the `\\0asm` magic bytes; pass the .wasm \
         component your toolchain built"
    )]
    NotWasm,
    #[error(
        "this is a core wasm module, not a component: build for wasm32-wasip2 or run \
         `wasm-tools component new`"
    )]
    CoreModule,
    #[error(
        "unsupported WebAssembly version/layer {version}: Chitin loads components \
         (0d 00 01 00); rebuild with a current toolchain for wasm32-wasip2"
    )]
    UnsupportedWasmVersion { version: String },
    #[error(
        "the WebAssembly binary is truncated or malformed at byte {offset}: {problem}; rebuild \
         the component (a partial download or copy also causes this)"
    )]
    Malformed { offset: usize, problem: String },
    #[error(
        "this component has no embedded chitin-manifest; run \
         `chitin plugin pack plugin.toml <component.wasm> -o <plugin.wasm>` to embed one"
    )]
    MissingSection,
    #[error(
        "this component has {count} chitin-manifest sections and it is unclear which one counts; \
         re-pack it with `chitin plugin pack`, which replaces them with one"
    )]
    DuplicateSection { count: usize },
    #[error(
        "the manifest is {bytes} bytes, too large for a custom section; shorten its descriptions"
    )]
    SectionTooLarge { bytes: usize },
    #[error(
        "the embedded chitin-manifest is not a valid manifest: {0}; fix plugin.toml and re-pack \
         the plugin with `chitin plugin pack`"
    )]
    Json(#[source] serde_json::Error),
    #[error("not a valid plugin manifest: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("manifest field `{field}` (`{value}`) is invalid: {problem}")]
    Invalid {
        field: String,
        value: String,
        problem: String,
    },
    #[error("manifest field `{field}`: {source}")]
    Pattern {
        field: String,
        #[source]
        source: PatternError,
    },
    #[error(
        "plugin `{plugin}` was built against {package}@{found}; this Chitin supports {}; {fix}",
        supported_list(.supported, .package)
    )]
    UnsupportedWitVersion {
        plugin: String,
        package: &'static str,
        found: String,
        supported: Vec<String>,
        fix: String,
    },
    #[error("budgets.{field} = {value} is out of range: {problem}")]
    Budget {
        field: &'static str,
        value: u64,
        problem: String,
    },
}

fn supported_list(supported: &[String], package: &str) -> String {
    supported
        .iter()
        .map(|v| format!("{package}@{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
