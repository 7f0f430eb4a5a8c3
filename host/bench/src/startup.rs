//! Gateway start-up and idle memory, measured on the real binary: `chitin gateway` with every
//! first-party plugin configured and a warm AOT cache, from process start until `/readyz`
//! answers, then its resident memory while idle.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct StartupFigures {
    pub starts: Vec<Duration>,
    pub idle_rss: u64,
}

fn config(root: &Path) -> String {
    let plugin = |id: &str| {
        root.join("target/plugins")
            .join(format!("{id}.wasm"))
            .display()
            .to_string()
    };
    let mut text = String::new();
    for id in [
        "echo",
        "web-fetch",
        "openai",
        "anthropic",
        "ollama",
        "gemini",
    ] {
        text.push_str(&format!("[plugins.{id}]\npath = \"{}\"\n", plugin(id)));
        if id != "echo" {
            text.push_str(&format!(
                "[plugins.{id}.grant]\noutbound = [\"https://example.com\"]\n"
            ));
        }
    }
    text.push_str(
        "[providers.example]\nplugin = \"openai\"\nbase_url = \"https://example.com/v1\"\n\
         [providers.example.models.m]\ncontext_window = 8000\n\
         [agents.main]\nmodel = \"example/m\"\n",
    );
    text
}

fn ready(addr: &str) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ =
        stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

pub(crate) fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub fn run(root: &Path, work: &Path, runs: usize) -> anyhow::Result<StartupFigures> {
    let binary = root.join("target/release/chitin");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: `cargo build --release -p chitin` (./dev bench does)",
        binary.display()
    );
    let home = work.join("startup-home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;
    std::fs::write(home.join("chitin.toml"), config(root))?;
    let mut starts = Vec::new();
    let mut idle_rss = 0;
    // The first start compiles the plugins into the AOT cache; it is not counted.
    for i in 0..=runs {
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .args(["gateway", "--port", "0"])
            .env("CHITIN_HOME", &home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("chitin gateway listening on http://")
            .ok_or_else(|| anyhow::anyhow!("the gateway did not start: {line}"))?
            .to_string();
        while !ready(&addr) {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "the gateway never became ready"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = started.elapsed();
        if i > 0 {
            starts.push(elapsed);
        }
        if i == runs {
            std::thread::sleep(Duration::from_secs(2));
            idle_rss = rss_of(child.id());
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    starts.sort();
    Ok(StartupFigures { starts, idle_rss })
}
