//! `chitin models list`: the configured providers' models and who uses them.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::home::Home;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Every configured model with its window, output limit and price.
    List,
}

pub fn run(command: ModelsCommand, home: &Home) -> anyhow::Result<ExitCode> {
    let ModelsCommand::List = command;
    let config = Config::load(&home.config_file())?;
    if config.providers.is_empty() {
        println!(
            "no providers configured (add [providers.<id>] to {})",
            home.config_file().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (provider_id, provider) in &config.providers {
        for (model_id, model) in &provider.models {
            let reference = format!("{provider_id}/{model_id}");
            let users: Vec<String> = config
                .agents
                .iter()
                .filter_map(|(agent, a)| {
                    if a.model == reference {
                        Some(format!("{agent} (primary)"))
                    } else if a.fallbacks.contains(&reference) {
                        Some(format!("{agent} (fallback)"))
                    } else {
                        None
                    }
                })
                .collect();
            println!(
                "{reference}\tplugin {}\twindow {}\tmax out {}\t${}/${} per Mtok\t{}",
                provider.plugin,
                model.context_window,
                model.max_tokens,
                model.cost_input,
                model.cost_output,
                if users.is_empty() {
                    "unused".to_string()
                } else {
                    users.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
