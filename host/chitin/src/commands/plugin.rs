//! `chitin plugin inspect|pack`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::home::Home;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Print the manifest embedded in a plugin, without running any of its code.
    Inspect {
        /// The plugin's `.wasm` file.
        file: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Embed a manifest (`plugin.toml`) into a built component.
    Pack {
        /// The manifest, e.g. `plugin.toml` next to the plugin's Cargo.toml.
        manifest: PathBuf,
        /// The component built by the plugin's toolchain.
        component: PathBuf,
        /// Where to write the packed plugin.
        #[arg(short, long)]
        output: PathBuf,
    },
}

pub fn run(command: PluginCommand, _home: &Home) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Inspect { file, json } => inspect(&file, json),
        PluginCommand::Pack {
            manifest,
            component,
            output,
        } => pack(&manifest, &component, &output),
    }
}

fn inspect(file: &PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let manifest = chitin_manifest::extract_manifest(&wasm)
        .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))?;
    if json {
        println!("{}", manifest.to_json());
        return Ok(ExitCode::SUCCESS);
    }
    let digest = chitin_sandbox::sha256_hex(&wasm);
    println!("{} {} ({})", manifest.name, manifest.version, manifest.id);
    println!("  kind:        {}", manifest.kind);
    println!(
        "  built for:   {}@{}",
        chitin_manifest::WIT_PACKAGE,
        manifest.wit_version
    );
    println!("  language:    {}", manifest.language);
    println!("  file:        {} ({} bytes)", file.display(), wasm.len());
    println!("  sha256:      {digest}");
    println!("  description: {}", manifest.description);
    if let Err(err) = manifest.check_wit_version() {
        println!("  WARNING:     {err}");
    }
    println!("  requests:");
    for line in manifest.describe_capabilities() {
        println!("    - {line}");
    }
    if manifest.kind == chitin_manifest::PluginKind::Tool {
        println!("  tool effects:");
        if manifest.effects.is_empty() {
            println!(
                "    - none declared: every tool is treated as reading untrusted input, writing and sending"
            );
        }
        for (tool, effects) in &manifest.effects {
            let list: Vec<String> = effects.iter().map(ToString::to_string).collect();
            println!(
                "    - {tool}: {}",
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
    }
    let budgets = manifest
        .budgets
        .resolve(manifest.language)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("  budgets per call:");
    println!("    - fuel: {} instructions", budgets.fuel);
    println!("    - memory: {} MiB", budgets.memory_bytes >> 20);
    println!("    - time: {} ms", budgets.timeout.as_millis());
    println!("    - output: {} KiB", budgets.max_output_bytes >> 10);
    println!("    - host calls: {}", budgets.max_host_calls);
    println!(
        "    - HTTP: {} requests, {} KiB per response",
        budgets.max_http_requests,
        budgets.max_response_bytes >> 10
    );
    Ok(ExitCode::SUCCESS)
}

fn pack(manifest: &PathBuf, component: &PathBuf, output: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let parsed = chitin_manifest::Manifest::from_toml(&text)
        .map_err(|err| anyhow::anyhow!("{}: {err}", manifest.display()))?;
    let wasm =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let packed = chitin_manifest::embed_manifest(&wasm, &parsed)
        .map_err(|err| anyhow::anyhow!("{}: {err}", component.display()))?;
    if let Some(parent) = output.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, &packed).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "packed {} {} into {} ({} bytes)",
        parsed.id,
        parsed.version,
        output.display(),
        packed.len()
    );
    Ok(ExitCode::SUCCESS)
}
