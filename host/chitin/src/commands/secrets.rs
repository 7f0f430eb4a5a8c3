//! `chitin secrets set|list|rm`: the encrypted secret store. Values are read from standard
//! input (never from the command line, where they would land in shell history and `ps`).

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context as _;
use chitin_secrets::{KeySource, SecretStore, SecretValue};
use clap::Subcommand;

use crate::home::Home;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Store a secret; the value is read from standard input.
    Set {
        /// The secret's name, e.g. TELEGRAM_BOT_TOKEN.
        name: String,
    },
    /// List secret names (never values).
    List,
    /// Delete a secret.
    Rm { name: String },
}

pub fn run(command: SecretsCommand, home: &Home) -> anyhow::Result<ExitCode> {
    home.ensure()?;
    let key = KeySource::discover(home.root());
    let mut store = SecretStore::open(&home.secrets_file(), &key)?;
    match command {
        SecretsCommand::Set { name } => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("enter the value of {name}, then press Ctrl-D:");
            }
            let mut value = String::new();
            stdin
                .lock()
                .read_to_string(&mut value)
                .context("reading the secret value from standard input")?;
            // A trailing newline from `echo` or a terminal is never part of a token.
            let value = value.trim_end_matches(['\n', '\r']).to_string();
            store.set(&name, SecretValue::new(value))?;
            println!("stored secret {name} (encrypted with {})", key.describe());
        }
        SecretsCommand::List => {
            let list = store.list();
            if list.is_empty() {
                println!("no secrets stored");
            }
            for info in list {
                println!(
                    "{}\t{} bytes\tupdated {}",
                    info.name, info.length, info.updated_unix
                );
            }
        }
        SecretsCommand::Rm { name } => {
            if store.remove(&name)? {
                println!("removed secret {name}");
            } else {
                anyhow::bail!("no secret named {name} (see `chitin secrets list`)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
