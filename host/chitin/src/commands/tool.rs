//! `chitin tool list|call`: run tool plugins from the command line under the same sandbox,
//! budgets and grants the agent uses.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chitin_manifest::Grant;
use clap::Subcommand;

use crate::config::Config;
use crate::home::Home;

#[derive(Subcommand)]
pub enum ToolCommand {
    /// List the tools a plugin offers.
    List {
        /// A plugin id from chitin.toml, or the path of a `.wasm`.
        plugin: String,
        /// A TOML file with the grant to use instead of the configured one.
        #[arg(long)]
        grant: Option<PathBuf>,
    },
    /// Call one tool with JSON arguments and print its output.
    Call {
        /// A plugin id from chitin.toml, or the path of a `.wasm`.
        plugin: String,
        /// The tool's name (see `chitin tool list`).
        tool: String,
        /// The arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        /// A TOML file with the grant to use instead of the configured one (see README:
        /// "Granting capabilities").
        #[arg(long)]
        grant: Option<PathBuf>,
    },
}

pub fn run(command: ToolCommand, home: &Home) -> anyhow::Result<ExitCode> {
    let config = Config::load(&home.config_file())?;
    match command {
        ToolCommand::List { plugin, grant } => {
            let (path, grant) = locate(&config, &plugin, grant.as_deref())?;
            let sandbox = super::open_sandbox(home, &config)?;
            let plugin = sandbox.load_file(&path, &grant)?;
            let specs = super::runtime()?.block_on(plugin.describe_tools())?;
            for spec in specs {
                println!("{}: {}", spec.name, spec.description);
                println!("    arguments: {}", spec.parameters_schema);
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolCommand::Call {
            plugin,
            tool,
            arguments,
            grant,
        } => {
            serde_json::from_str::<serde_json::Value>(&arguments).with_context(|| {
                format!("the arguments must be JSON, e.g. '{{\"text\": \"hi\"}}'; got {arguments}")
            })?;
            let (path, grant) = locate(&config, &plugin, grant.as_deref())?;
            let sandbox = super::open_sandbox(home, &config)?;
            let plugin = sandbox.load_file(&path, &grant)?;
            let context = chitin_sandbox::CallContext {
                call_id: format!("cli-{}", std::process::id()),
                agent_id: None,
                session_key: None,
            };
            let runtime = super::runtime()?;
            match runtime.block_on(plugin.call_tool(&tool, &arguments, &context)) {
                Ok(output) => {
                    println!("{}", output.content);
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("error [{}]: {err}", err.code());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// Finds the plugin file and its grant: a configured id, or a path with the grant given on the
/// command line (or nothing granted).
fn locate(
    config: &Config,
    plugin: &str,
    grant_file: Option<&Path>,
) -> anyhow::Result<(PathBuf, Grant)> {
    let override_grant = grant_file.map(read_grant).transpose()?;
    if let Some(entry) = config.plugins.get(plugin) {
        let grant = override_grant.unwrap_or_else(|| entry.grant.clone());
        let Some(path) = &entry.path else {
            anyhow::bail!(
                "[plugins.{plugin}] has no path (it grants a tool a skill carries); call the \
                 skill's .wasm by its file path instead"
            );
        };
        return Ok((path.clone(), grant));
    }
    let path = PathBuf::from(plugin);
    if path.exists() {
        return Ok((path, override_grant.unwrap_or_default()));
    }
    let known: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
    anyhow::bail!(
        "no plugin `{plugin}`: it is neither a file nor a plugin configured in chitin.toml \
         (configured: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

fn read_grant(path: &Path) -> anyhow::Result<Grant> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading grant {}", path.display()))?;
    toml::from_str(&text).map_err(|err| anyhow::anyhow!("grant {}: {err}", path.display()))
}
