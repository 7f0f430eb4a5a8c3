//! `chitin sessions list|show|reset`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::home::Home;

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Sessions, most recent first.
    List {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A session's messages.
    Show {
        key: String,
        /// Include messages already summarized by compaction.
        #[arg(long)]
        all: bool,
    },
    /// Forget a session's messages (the session itself stays).
    Reset { key: String },
}

pub fn run(command: SessionsCommand, home: &Home) -> anyhow::Result<ExitCode> {
    let store = super::open_store(home)?;
    match command {
        SessionsCommand::List { agent, limit } => {
            let sessions = store.sessions_list(agent.as_deref(), limit)?;
            if sessions.is_empty() {
                println!("no sessions");
            }
            for s in sessions {
                println!(
                    "{}\t{} messages\tupdated {}",
                    s.key,
                    s.message_count,
                    format_ms(s.updated_ms)
                );
            }
        }
        SessionsCommand::Show { key, all } => {
            let Some(session) = store.session_get(&key)? else {
                anyhow::bail!("no session `{key}` (see `chitin sessions list`)");
            };
            if let Some(summary) = &session.summary {
                println!("[summary of earlier messages]\n{summary}\n");
            }
            let rows = if all {
                store.history(&key, usize::MAX, None)?
            } else {
                store.transcript(&key)?
            };
            for row in rows {
                let mut line = format!("{} {}: {}", row.seq, row.role.as_str(), row.content);
                for call in &row.tool_calls {
                    line.push_str(&format!("\n    -> {}({})", call.name, call.arguments));
                }
                println!("{line}");
            }
        }
        SessionsCommand::Reset { key } => {
            if store.session_get(&key)?.is_none() {
                anyhow::bail!("no session `{key}` (see `chitin sessions list`)");
            }
            let removed = store.session_reset(&key)?;
            println!("reset {key}: {removed} messages removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn format_ms(ms: i64) -> String {
    chitin_agent::dates::from_unix(ms / 1000).to_string()
}
