//! `./dev bench`: the sandbox's costs, measured in one run on this machine.
//!
//! - fresh-instance tool call: new Store + instantiate (pooling) + call + drop, the per-call
//!   model for Rust/C plugins;
//! - warm call: the same call on a recycled instance (the Python/JS model);
//! - cached load: reading a plugin whose AOT artifact is cached (manifest, grant, mmap, link);
//! - host RSS with 0, 10 and 100 plugins loaded.
//!
//! Figures are printed with their targets and as ratios between each other; nothing is
//! asserted (timings belong in benchmarks, not tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod startup;
mod turns;
mod ws_clients;

use chitin_manifest::Grant;
use chitin_sandbox::{CallContext, HostServices, InstanceMode, Sandbox, SandboxConfig};

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let echo_path = root.join("target/plugins/echo.wasm");
    anyhow::ensure!(
        echo_path.exists(),
        "{} is missing: run `./dev build-plugins` (./dev bench does)",
        echo_path.display()
    );
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;

    let rss_start = rss_bytes();
    let sandbox = new_sandbox(&work)?;
    let rss_engine = rss_bytes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let echo = sandbox.load_file(&echo_path, &Grant::default())?;
    let cx = CallContext {
        call_id: "bench".into(),
        agent_id: None,
        session_key: None,
    };
    let args = r#"{"text":"hello"}"#;

    // Warm up: first calls fault in the artifact's pages and the pool's slots.
    runtime.block_on(async {
        for _ in 0..200 {
            echo.call_tool("echo", args, &cx).await.unwrap();
        }
    });

    let iterations = 5000;
    let fresh = runtime.block_on(async {
        sample(iterations, || async {
            echo.call_tool("echo", args, &cx).await.unwrap();
        })
        .await
    });

    let mut warm_echo = sandbox.load_file(&echo_path, &Grant::default())?;
    warm_echo.set_instance_mode(InstanceMode::Warm);
    let warm = runtime.block_on(async {
        for _ in 0..50 {
            warm_echo.call_tool("echo", args, &cx).await.unwrap();
        }
        sample(iterations, || async {
            warm_echo.call_tool("echo", args, &cx).await.unwrap();
        })
        .await
    });

    let cached_load = runtime.block_on(async {
        sample(200, || async {
            sandbox.load_file(&echo_path, &Grant::default()).unwrap();
        })
        .await
    });
    drop(warm_echo);
    drop(echo);

    // RSS with N distinct plugins: copies of echo under other ids (so each has its own digest
    // and compiled artifact, as distinct plugins would). Compiled once, cached afterwards.
    let copies = make_copies(&echo_path, &work.join("copies"), 100)?;
    for copy in &copies {
        sandbox.precompile(&std::fs::read(copy)?)?;
    }
    let rss_0 = rss_bytes();
    let mut loaded = Vec::new();
    let mut rss_at = Vec::new();
    for (i, copy) in copies.iter().enumerate() {
        let plugin = sandbox.load_file(copy, &Grant::default())?;
        // Call each once, so its code pages are really touched.
        runtime.block_on(plugin.call_tool("echo", args, &cx))?;
        loaded.push(plugin);
        if i + 1 == 10 || i + 1 == 100 {
            rss_at.push((i + 1, rss_bytes()));
        }
    }

    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "Chitin sandbox benchmark ({} iterations per call figure)",
        iterations
    );
    println!();
    println!("{:<34} {:>10} {:>10} {:>10}", "", "p50", "p99", "mean");
    print_row("fresh-instance tool call", &fresh);
    print_row("warm-instance tool call", &warm);
    print_row("cached plugin load", &cached_load);
    println!();
    println!(
        "RSS at process start:              {:>8.1} MiB",
        mib(rss_start)
    );
    println!(
        "RSS with the engine:               {:>8.1} MiB",
        mib(rss_engine)
    );
    println!("RSS with 0 plugins loaded:         {:>8.1} MiB", mib(rss_0));
    for (n, rss) in &rss_at {
        println!(
            "RSS with {n:>3} plugins loaded:       {:>8.1} MiB",
            mib(*rss)
        );
    }
    println!();
    let p50 = |s: &Stats| s.p50.as_secs_f64() * 1e6;
    println!("ratios (same run):");
    println!(
        "  fresh / warm call p50:            {:>8.1}x",
        p50(&fresh) / p50(&warm)
    );
    println!(
        "  target 50 µs / fresh call p50:    {:>8.2}x  ({})",
        50.0 / p50(&fresh),
        verdict(p50(&fresh) <= 50.0)
    );
    if let Some((_, rss10)) = rss_at.first() {
        println!(
            "  target 20 MB / RSS with 10:       {:>8.2}x  ({})",
            20e6 / *rss10 as f64,
            verdict(*rss10 as f64 <= 20e6)
        );
    }
    drop(loaded);

    let turns = std::env::var("CHITIN_BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t = turns::run(&root, &work, &sandbox, turns)?;
    println!();
    println!(
        "Agent turns against an instant local provider ({} turns, full path incl. the",
        t.turns
    );
    println!("sandboxed openai plugin, loopback HTTP, SSE parsing and SQLite):");
    println!(
        "  host overhead per turn p50:       {:>8.0} µs",
        t.p50.as_secs_f64() * 1e6
    );
    println!(
        "  host overhead per turn p99:       {:>8.0} µs",
        t.p99.as_secs_f64() * 1e6
    );
    println!(
        "  CPU per turn:                     {:>8.0} µs",
        t.cpu_per_turn.as_secs_f64() * 1e6
    );
    println!(
        "  RSS after 100 turns:              {:>8.1} MiB",
        mib(t.rss_after_100)
    );
    println!(
        "  RSS after {:>5} turns:            {:>8.1} MiB",
        t.turns,
        mib(t.rss_after_all)
    );
    println!("ratios (same run):");
    println!(
        "  target 2 ms / turn p50:           {:>8.2}x  ({})",
        2e-3 / t.p50.as_secs_f64(),
        verdict(t.p50 <= Duration::from_millis(2))
    );
    // OpenClaw's measured gateway overhead: ~0.4-0.5 CPU-s per turn (shared/reference).
    println!(
        "  OpenClaw 0.5 CPU-s / our CPU:     {:>8.0}x  ({})",
        0.5 / t.cpu_per_turn.as_secs_f64().max(1e-9),
        verdict(0.5 / t.cpu_per_turn.as_secs_f64().max(1e-9) >= 50.0)
    );
    let growth = t.rss_after_all as f64 - t.rss_after_100 as f64;
    println!(
        "  RSS growth 100 -> {} turns:     {:>8.2} MiB  ({})",
        t.turns,
        growth / (1 << 20) as f64,
        verdict(growth <= 5.0 * (1 << 20) as f64)
    );
    let clients = ws_clients::run(&root, &work, 100, 20)?;
    println!();
    println!(
        "{} WebSocket clients running turns at once through the release gateway ({} turns each,",
        clients.clients, clients.turns_per_client
    );
    println!("agent.run -> streamed events -> done, instant provider in the bench process):");
    println!(
        "  throughput:                       {:>8.0} turns/s",
        clients.throughput
    );
    println!(
        "  turn latency p50 / p99:           {:>8.1} / {:.1} ms",
        clients.p50.as_secs_f64() * 1e3,
        clients.p99.as_secs_f64() * 1e3
    );
    println!(
        "  gateway CPU per turn:             {:>8.0} µs",
        clients.gateway_cpu_per_turn.as_secs_f64() * 1e6
    );
    println!(
        "  gateway RSS with {} clients:     {:>8.1} MiB",
        clients.clients,
        mib(clients.gateway_rss)
    );
    println!(
        "  ZeroClaw 10 ms CPU / our CPU:     {:>8.1}x  ({})",
        0.010 / clients.gateway_cpu_per_turn.as_secs_f64().max(1e-9),
        verdict(clients.gateway_cpu_per_turn <= Duration::from_millis(10))
    );

    let startup = startup::run(&root, &work, 5)?;
    let median = startup.starts[startup.starts.len() / 2];
    println!();
    println!(
        "Gateway start-up (release binary, 6 plugins, warm AOT cache, {} runs):",
        startup.starts.len()
    );
    println!(
        "  process start -> /readyz, median:  {:>7.1} ms",
        median.as_secs_f64() * 1e3
    );
    println!(
        "  idle RSS of the gateway:          {:>8.1} MiB",
        mib(startup.idle_rss)
    );
    println!(
        "  target 100 ms / start:            {:>8.2}x  ({})",
        0.1 / median.as_secs_f64(),
        verdict(median <= Duration::from_millis(100))
    );
    println!(
        "  target 25 MB / idle RSS:          {:>8.2}x  ({})",
        25e6 / startup.idle_rss as f64,
        verdict(startup.idle_rss as f64 <= 25e6)
    );
    println!(
        "  OpenClaw ~9 s / our start:        {:>8.0}x;  ZeroClaw 22 ms / our start: {:.2}x",
        9.0 / median.as_secs_f64(),
        0.022 / median.as_secs_f64()
    );
    Ok(())
}

/// User + system CPU time of this process, from /proc (Linux; clock ticks of 10 ms).
fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// User + system CPU time of a process (`"self"` or a pid).
pub(crate) fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets target" } else { "MISSES target" }
}

fn new_sandbox(work: &Path) -> anyhow::Result<Sandbox> {
    let key = chitin_secrets::KeySource::File {
        path: work.join("secrets.key"),
    };
    let secrets = chitin_secrets::SecretStore::open(&work.join("secrets.enc"), &key)?;
    let services = HostServices {
        store: Some(Arc::new(chitin_store::Store::open_in_memory()?)),
        secrets: Arc::new(secrets),
        resolver: Arc::new(chitin_egress::SystemResolver),
    };
    let mut pool = chitin_sandbox::PoolSizing::default();
    // Lets the benchmark compare settings of this knob (see engine.rs).
    if let Some(bytes) = std::env::var("CHITIN_BENCH_KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        pool.keep_resident_bytes = bytes;
    }
    println!("pool: keep_resident_bytes = {}", pool.keep_resident_bytes);
    Sandbox::new(
        SandboxConfig {
            cache_dir: work.join("aot"),
            pool,
        },
        services,
    )
}

fn make_copies(echo: &Path, dir: &Path, n: usize) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let wasm = std::fs::read(echo)?;
    let mut manifest = chitin_manifest::extract_manifest(&wasm)?;
    let mut paths = Vec::new();
    for i in 0..n {
        let path = dir.join(format!("echo-{i}.wasm"));
        if !path.exists() {
            manifest.id = format!("echo-{i}");
            std::fs::write(&path, chitin_manifest::embed_manifest(&wasm, &manifest)?)?;
        }
        paths.push(path);
    }
    Ok(paths)
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

async fn sample<F, Fut>(n: usize, mut f: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        times.push(started.elapsed());
    }
    times.sort();
    let total: Duration = times.iter().sum();
    Stats {
        p50: times[n / 2],
        p99: times[(n * 99 / 100).min(n - 1)],
        mean: total / n as u32,
    }
}

fn print_row(name: &str, stats: &Stats) {
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        name,
        us(stats.p50),
        us(stats.p99),
        us(stats.mean)
    );
}

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
