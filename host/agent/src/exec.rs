//! `exec`: runs one program in the agent's workspace. Off unless the operator turns it on
//! (`[tools.exec] policy`), because it is the one tool that leaves the sandbox.
//!
//! What it refuses to be: a shell. The command is split into words here (quotes and
//! backslashes work) and the program runs directly, so `;`, `|`, `&&`, redirections and `$(…)`
//! are refused instead of being interpreted — each was an approval bypass in other agents
//! (OpenClaw's `sh -lc` allow-always, pipe-to-interpreter). The program is resolved on a fixed
//! PATH to an absolute path before the policy is checked, so a planted binary earlier in some
//! other PATH cannot pose as an allowed one, and shells and interpreters cannot be allowlisted
//! at all (they would allow everything). The child gets a clean environment (no secrets, no
//! tokens), no stdin, the workspace as working directory and HOME, its own process group (a
//! timeout kills its children too), and its output is capped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncReadExt;

/// Where programs are looked up; the child's PATH is the same.
pub const EXEC_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Programs that run arbitrary code given as arguments: allowlisting one would allow
/// everything, so `[tools.exec] allow` refuses them (they can still run under `ask`).
const ANY_COMMAND_RUNNERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "fish", "ksh", "csh", "tcsh", "busybox", "env", "xargs", "sudo",
    "su", "doas", "nohup", "timeout", "nice", "setsid", "stdbuf", "chroot", "find", "python",
    "python3", "node", "nodejs", "perl", "ruby", "php", "lua", "awk", "gawk", "mawk", "tclsh",
    "expect", "ssh", "script", "watch", "flock", "parallel", "make",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExecPolicy {
    /// `exec` is not offered to any agent.
    #[default]
    Deny,
    /// Only the programs in `allow` run; anything else is refused.
    Allowlist,
    /// Programs in `allow` run; anything else waits for an operator's approval.
    Ask,
}

/// `[tools.exec]` in chitin.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    #[serde(default)]
    pub policy: ExecPolicy,
    /// Program names (looked up on [`EXEC_PATH`]) or absolute paths that may run without asking.
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Output kept from each of stdout and stderr.
    #[serde(default = "default_max_output_kb")]
    pub max_output_kb: usize,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            policy: ExecPolicy::Deny,
            allow: Vec::new(),
            timeout_secs: default_timeout_secs(),
            max_output_kb: default_max_output_kb(),
        }
    }
}

fn default_timeout_secs() -> u64 {
    30
}

fn default_max_output_kb() -> usize {
    64
}

/// The checked configuration: allowed programs as absolute paths.
#[derive(Debug, Clone)]
pub struct Exec {
    pub policy: ExecPolicy,
    allowed: BTreeSet<PathBuf>,
    timeout: Duration,
    max_output: usize,
}

/// Finds a program on [`EXEC_PATH`] (or checks an absolute path), following symlinks so that
/// `/usr/bin/sh -> dash` is seen as what it is.
pub fn resolve_program(name: &str) -> Option<PathBuf> {
    let candidate = if name.contains('/') {
        let path = PathBuf::from(name);
        if !path.is_absolute() {
            return None;
        }
        path
    } else {
        EXEC_PATH
            .split(':')
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())?
    };
    let real = std::fs::canonicalize(&candidate).ok()?;
    real.is_file().then_some(real)
}

fn is_command_runner(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // python3.11, perl5.36 and the like count as their family.
    let family = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    ANY_COMMAND_RUNNERS.contains(&name) || ANY_COMMAND_RUNNERS.contains(&family)
}

impl Exec {
    /// Checks the configuration: every allowed program exists and none is a shell or
    /// interpreter. Errors name the entry and the fix.
    pub fn new(config: &ExecConfig) -> Result<Exec, String> {
        if config.timeout_secs == 0 || config.max_output_kb == 0 {
            return Err("[tools.exec] timeout_secs and max_output_kb must be at least 1".into());
        }
        let mut allowed = BTreeSet::new();
        for entry in &config.allow {
            let Some(path) = resolve_program(entry) else {
                return Err(format!(
                    "[tools.exec] allow: `{entry}` is not a program on {EXEC_PATH} (or an \
                     existing absolute path)"
                ));
            };
            if is_command_runner(&path) || is_command_runner(Path::new(entry)) {
                return Err(format!(
                    "[tools.exec] allow: `{entry}` ({}) runs whatever command it is given, so \
                     allowing it would allow everything; leave it out and use policy = \"ask\" \
                     to approve such calls one by one",
                    path.display()
                ));
            }
            allowed.insert(path);
        }
        Ok(Exec {
            policy: config.policy,
            allowed,
            timeout: Duration::from_secs(config.timeout_secs),
            max_output: config.max_output_kb * 1024,
        })
    }

    /// What the policy decides for a call, before running anything.
    pub fn decide(&self, arguments: &serde_json::Value) -> Verdict {
        let argv = match command_words(arguments) {
            Ok(argv) => argv,
            Err(why) => return Verdict::Refuse(why),
        };
        let Some(program) = resolve_program(&argv[0]) else {
            return Verdict::Refuse(format!(
                "`{}` is not a program on {EXEC_PATH}; exec runs installed programs only",
                argv[0]
            ));
        };
        let allowed = self.allowed.contains(&program);
        match self.policy {
            ExecPolicy::Deny => Verdict::Refuse("exec is turned off ([tools.exec] policy)".into()),
            ExecPolicy::Allowlist if !allowed => Verdict::Refuse(format!(
                "`{}` is not in [tools.exec] allow; allowed: {}",
                argv[0],
                self.allowed_names()
            )),
            ExecPolicy::Ask if !allowed => Verdict::Ask { program, argv },
            _ => Verdict::Run { program, argv },
        }
    }

    fn allowed_names(&self) -> String {
        if self.allowed.is_empty() {
            return "nothing".into();
        }
        self.allowed
            .iter()
            .filter_map(|p| p.file_name()?.to_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs the program in `workspace`; the result text says how it ended.
    pub async fn run(
        &self,
        program: &Path,
        argv: &[String],
        workspace: &Path,
    ) -> Result<ExecOutput, String> {
        let mut command = std::process::Command::new(program);
        command
            .args(&argv[1..])
            .current_dir(workspace)
            .env_clear()
            .env("PATH", EXEC_PATH)
            .env("HOME", workspace)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("could not start {}: {err}", program.display()))?;
        let pid = child.id();
        let cap = self.max_output;
        let stdout = read_capped(child.stdout.take(), cap);
        let stderr = read_capped(child.stderr.take(), cap);
        let waited = async {
            let (stdout, stderr, status) = tokio::join!(stdout, stderr, child.wait());
            (stdout, stderr, status)
        };
        match tokio::time::timeout(self.timeout, waited).await {
            Ok((stdout, stderr, status)) => {
                let status = status.map_err(|err| format!("waiting for the program: {err}"))?;
                Ok(ExecOutput {
                    exit_code: status.code(),
                    stdout,
                    stderr,
                    timed_out: false,
                })
            }
            Err(_) => {
                kill_group(pid);
                Ok(ExecOutput {
                    exit_code: None,
                    stdout: (String::new(), false),
                    stderr: (String::new(), false),
                    timed_out: true,
                })
            }
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Kills the child's whole process group (it was made leader of its own group), so programs
/// it started do not outlive the timeout.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; a stale group id at worst fails with ESRCH.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}

/// Reads a stream to its end, keeping the first `cap` bytes (and draining the rest, so the
/// child never blocks on a full pipe). Returns the text and whether it was cut.
async fn read_capped(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
    cap: usize,
) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut cut = false;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

pub enum Verdict {
    Run { program: PathBuf, argv: Vec<String> },
    Ask { program: PathBuf, argv: Vec<String> },
    Refuse(String),
}

pub struct ExecOutput {
    pub exit_code: Option<i32>,
    pub stdout: (String, bool),
    pub stderr: (String, bool),
    pub timed_out: bool,
}

impl ExecOutput {
    /// The result as the model reads it.
    pub fn render(&self, timeout: Duration) -> String {
        if self.timed_out {
            return format!(
                "the program did not finish within {}s and was killed (with anything it started)",
                timeout.as_secs()
            );
        }
        let mut text = match self.exit_code {
            Some(code) => format!("exit code {code}\n"),
            None => "killed by a signal\n".to_string(),
        };
        for (name, (output, cut)) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if output.is_empty() {
                continue;
            }
            text.push_str(&format!("--- {name} ---\n{output}"));
            if !output.ends_with('\n') {
                text.push('\n');
            }
            if *cut {
                text.push_str(&format!("[{name} truncated at the output limit]\n"));
            }
        }
        text
    }
}

/// The words of the command: `{"command": "git log -n 3"}` (split like a shell would, quotes
/// and backslashes honoured, but nothing interpreted) or `{"argv": ["git", "log"]}`.
pub fn command_words(arguments: &serde_json::Value) -> Result<Vec<String>, String> {
    let words = if let Some(argv) = arguments["argv"].as_array() {
        argv.iter()
            .map(|w| {
                w.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "`argv` must be an array of strings".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?
    } else if let Some(command) = arguments["command"].as_str() {
        split_words(command)?
    } else {
        return Err("exec needs {\"command\": \"program arg ...\"}".into());
    };
    if words.is_empty() || words[0].is_empty() {
        return Err("the command is empty".into());
    }
    if words.iter().any(|w| w.contains('\0')) {
        return Err("the command contains a NUL byte".into());
    }
    Ok(words)
}

fn split_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("unterminated double quote".into()),
                        },
                        Some('$' | '`') => return Err(no_shell("$ and ` (substitution)")),
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' | '|' | '&' | '<' | '>' | '$' | '`' | '(' | ')' | '{' | '}' | '*' | '?' | '~'
            | '#' => {
                return Err(no_shell(&format!("`{c}`")));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn no_shell(what: &str) -> String {
    format!(
        "{what} would need a shell; exec runs one program with its arguments and no shell \
         (no pipes, redirections, globs, substitutions or command lists). Quote the character \
         if it is meant literally, or run the steps as separate exec calls"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_being_one() {
        assert_eq!(
            split_words(r#"git commit -m "a \"b\" c" 'd e' f\ g"#).unwrap(),
            ["git", "commit", "-m", "a \"b\" c", "d e", "f g"]
        );
        assert_eq!(split_words("echo ';' '|'").unwrap(), ["echo", ";", "|"]);
        for bad in [
            "ls; rm -rf /",
            "cat x | sh",
            "echo $(id)",
            "echo `id`",
            "ls > out",
            "ls && id",
            "ls *",
            "echo \"$HOME\"",
        ] {
            let err = split_words(bad).unwrap_err();
            assert!(err.contains("no shell"), "{bad}: {err}");
        }
        assert!(split_words("echo 'open").unwrap_err().contains("quote"));
        assert_eq!(
            command_words(&json!({"argv": ["ls", "-la"]})).unwrap(),
            ["ls", "-la"]
        );
        assert!(command_words(&json!({})).is_err());
        assert!(command_words(&json!({"command": "  "})).is_err());
    }

    #[test]
    fn shells_and_interpreters_cannot_be_allowlisted() {
        for runner in ["sh", "bash", "env", "python3", "/bin/sh", "xargs", "find"] {
            let config = ExecConfig {
                policy: ExecPolicy::Allowlist,
                allow: vec![runner.into()],
                ..ExecConfig::default()
            };
            if resolve_program(runner).is_none() {
                continue; // not installed here
            }
            let err = Exec::new(&config).unwrap_err();
            assert!(err.contains("allow everything"), "{runner}: {err}");
        }
        let err = Exec::new(&ExecConfig {
            policy: ExecPolicy::Allowlist,
            allow: vec!["no-such-program-xyz".into()],
            ..ExecConfig::default()
        })
        .unwrap_err();
        assert!(err.contains("not a program"), "{err}");
    }

    #[test]
    fn the_policy_decides_before_anything_runs() {
        let exec = |policy| {
            Exec::new(&ExecConfig {
                policy,
                allow: vec!["ls".into()],
                ..ExecConfig::default()
            })
            .unwrap()
        };
        let ls = json!({"command": "ls -la"});
        let cat = json!({"command": "cat /etc/hostname"});
        assert!(matches!(
            exec(ExecPolicy::Allowlist).decide(&ls),
            Verdict::Run { .. }
        ));
        assert!(matches!(
            exec(ExecPolicy::Allowlist).decide(&cat),
            Verdict::Refuse(why) if why.contains("not in [tools.exec] allow")
        ));
        assert!(matches!(
            exec(ExecPolicy::Ask).decide(&cat),
            Verdict::Ask { .. }
        ));
        assert!(matches!(
            exec(ExecPolicy::Ask).decide(&ls),
            Verdict::Run { .. }
        ));
        assert!(matches!(
            exec(ExecPolicy::Deny).decide(&ls),
            Verdict::Refuse(_)
        ));
        // A relative path is not a way around the lookup.
        assert!(matches!(
            exec(ExecPolicy::Ask).decide(&json!({"command": "./ls"})),
            Verdict::Refuse(why) if why.contains("not a program")
        ));
    }

    #[tokio::test]
    async fn runs_in_the_workspace_with_a_clean_environment_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.txt"), "hi").unwrap();
        let exec = Exec::new(&ExecConfig {
            policy: ExecPolicy::Ask,
            allow: vec![],
            timeout_secs: 1,
            max_output_kb: 1,
        })
        .unwrap();
        let run = |command: &str| {
            let Verdict::Ask { program, argv } = exec.decide(&json!({"command": command})) else {
                panic!("{command} should ask");
            };
            (program, argv)
        };
        let (program, argv) = run("ls");
        let out = exec.run(&program, &argv, dir.path()).await.unwrap();
        assert_eq!(out.exit_code, Some(0));
        assert!(out.stdout.0.contains("hello.txt"));

        // Nothing of ours (tokens, keys) leaks into the child's environment.
        let (program, argv) = run("printenv");
        let out = exec.run(&program, &argv, dir.path()).await.unwrap();
        let vars: Vec<&str> = out
            .stdout
            .0
            .lines()
            .filter_map(|l| l.split('=').next())
            .collect();
        assert_eq!(vars.len(), 3, "{vars:?}");
        assert!(vars.contains(&"PATH") && vars.contains(&"HOME") && vars.contains(&"LANG"));

        // Output is capped, the rest drained.
        let (program, argv) = run("seq 1 100000");
        let out = exec.run(&program, &argv, dir.path()).await.unwrap();
        assert!(out.stdout.1 && out.stdout.0.len() == 1024);
        assert!(out.render(exec.timeout()).contains("truncated"));

        // A timeout kills the program and what it started: the background job would create
        // `late` after 2 s if it survived.
        let (program, argv) = run("sh -c '(sleep 2; touch late) & sleep 30'");
        let started = std::time::Instant::now();
        let out = exec.run(&program, &argv, dir.path()).await.unwrap();
        assert!(out.timed_out);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(out.render(exec.timeout()).contains("killed"));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !dir.path().join("late").exists(),
            "a grandchild outlived the timeout"
        );
    }
}
