//! A stdio MCP server's process: spawned in its own process group with a cleared environment,
//! its stderr kept as a redacted log tail, its exit watched, and the whole group killed when
//! it exits, when it is shut down, or when the handle is dropped.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chitin_secrets::Redactor;
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 20;
/// Longest stderr line kept (and logged); the rest of a longer line is dropped.
const MAX_LINE: usize = 1024;
/// How long a server gets to exit after its stdin closes, and again after SIGTERM.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The variables a child inherits from the gateway; everything else is cleared.
pub(crate) const INHERITED_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

/// A running stdio server. Dropping it kills the process group.
pub(crate) struct Process {
    pid: u32,
    exit: watch::Receiver<Option<String>>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Set once the group has been killed after the leader exited (so a later kill cannot hit
    /// a reused process group id).
    group_gone: AtomicBool,
    tail: Mutex<VecDeque<String>>,
}

pub(crate) struct Spawned {
    pub process: Process,
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
}

/// Starts `command` with exactly `env` (already including the inherited variables).
pub(crate) fn spawn(
    server: &str,
    command: &str,
    args: &[String],
    env: Vec<(String, String)>,
    cwd: Option<&Path>,
    redactor: Redactor,
) -> Result<Spawned, String> {
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                " (not found: give an absolute path, or make sure it is on PATH)"
            }
            std::io::ErrorKind::PermissionDenied => " (permission denied)",
            _ => "",
        };
        let dir = cwd
            .map(|d| format!(" in {}", d.display()))
            .unwrap_or_default();
        format!("could not run `{command}`{dir}: {e}{hint}")
    })?;
    let pid = child.id().ok_or("the process exited at once")?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("the process's stdio pipes are missing".to_string());
    };
    let shared = Arc::new(Shared {
        group_gone: AtomicBool::new(false),
        tail: Mutex::new(VecDeque::new()),
    });
    tokio::spawn(read_stderr(
        server.to_string(),
        stderr,
        shared.clone(),
        redactor,
    ));
    let (exit_tx, exit) = watch::channel(None);
    let watcher_shared = shared.clone();
    let server_id = server.to_string();
    tokio::spawn(async move {
        let status = child.wait().await;
        // Whatever the leader left behind (npx's node, a shell's children) goes with it.
        kill_group(pid, libc::SIGKILL);
        watcher_shared.group_gone.store(true, Ordering::SeqCst);
        let text = match status {
            Ok(status) => describe(status),
            Err(e) => format!("could not be waited for: {e}"),
        };
        tracing::debug!(server = %server_id, pid, "MCP server process {text}");
        let _ = exit_tx.send(Some(text));
    });
    Ok(Spawned {
        process: Process { pid, exit, shared },
        stdout,
        stdin,
    })
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How the process ended (`exited with status 3`, `was killed by signal 9`), or `None`
    /// while it runs.
    pub fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// The last lines the server wrote to stderr (redacted), oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.shared
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Why the process is gone, for an error message: its exit status and its last stderr
    /// lines.
    pub fn death_note(&self) -> String {
        let status = self
            .exit_status()
            .unwrap_or_else(|| "stopped answering".to_string());
        let tail = self.stderr_tail();
        let shown: Vec<&String> = tail.iter().rev().take(5).rev().collect();
        if shown.is_empty() {
            format!("the process {status}")
        } else {
            let lines: Vec<&str> = shown.iter().map(|s| s.as_str()).collect();
            format!(
                "the process {status}; its last stderr lines: {}",
                lines.join(" | ")
            )
        }
    }

    async fn wait_exit(&self, limit: Duration) -> bool {
        let mut exit = self.exit.clone();
        tokio::time::timeout(limit, exit.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    /// The shutdown order of the MCP spec once stdin is closed: wait, SIGTERM, wait, SIGKILL
    /// (each to the whole process group).
    pub async fn shutdown(&self) {
        if self.wait_exit(EXIT_GRACE).await {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.wait_exit(EXIT_GRACE).await {
            return;
        }
        self.signal(libc::SIGKILL);
        self.wait_exit(EXIT_GRACE).await;
    }

    fn signal(&self, signal: libc::c_int) {
        if !self.shared.group_gone.load(Ordering::SeqCst) {
            kill_group(self.pid, signal);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

fn kill_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: killpg only sends a signal; the group is the one this process created for the
    // child (process_group(0) makes its pid the group id). An error (the group is gone) is
    // fine to ignore.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "exited".to_string(),
    }
}

/// Logs the server's stderr line by line (redacted, bounded) and keeps the last lines.
async fn read_stderr(
    server: String,
    mut stderr: ChildStderr,
    shared: Arc<Shared>,
    redactor: Redactor,
) {
    let mut buf = [0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let mut overflow = false;
    let emit = |line: &mut Vec<u8>, overflow: &mut bool| {
        let text = String::from_utf8_lossy(line);
        let text = redactor.redact(text.trim_end_matches('\r')).into_owned();
        let text = if *overflow {
            format!("{text}…")
        } else {
            text
        };
        line.clear();
        *overflow = false;
        if text.trim().is_empty() {
            return;
        }
        tracing::debug!(target: "chitin_mcp::stderr", server = %server, "{text}");
        let mut tail = shared.tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    };
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                emit(&mut line, &mut overflow);
            } else if line.len() < MAX_LINE {
                line.push(b);
            } else {
                overflow = true;
            }
        }
    }
    if !line.is_empty() {
        emit(&mut line, &mut overflow);
    }
}
