//! Real MCP servers for the tests: server-everything and server-filesystem from npm
//! (tests/support/mcp-servers.sh), and a Python server written with the PyPI `mcp` package
//! (tests/support/mcp/py_server.py in the venv of tests/support/python-venv.sh).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chitin_egress::{StaticResolver, SystemResolver};
use chitin_mcp::{McpConfig, McpServerConfig, McpServers, StartError, egress_factory};
use chitin_secrets::{KeySource, SecretStore, SecretValue};
use tokio::io::{AsyncBufReadExt, BufReader};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a setup script under a lock shared by all test processes (so that parallel tests do
/// not install at the same time), and returns its stdout. The output is kept in
/// target/mcp-test-setup/ and reused while it is newer than the script and `inputs`, and every
/// path it prints still exists (the scripts' own checks take seconds, in every test process).
fn setup(script: &str, inputs: &[&str]) -> String {
    let root = repo_root();
    let dir = root.join("target/mcp-test-setup");
    std::fs::create_dir_all(&dir).expect("target/mcp-test-setup");
    let lock = std::fs::File::create(dir.join("lock")).expect("lock file");
    lock.lock().expect("lock");
    let name = Path::new(script)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let cached = dir.join(format!("{name}.out"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(at), Ok(out)) = (modified(&cached), std::fs::read_to_string(&cached)) {
        let fresh = std::iter::once(script)
            .chain(inputs.iter().copied())
            .all(|input| modified(&root.join(input)).is_some_and(|m| m < at));
        let paths_exist = out
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .all(|p| Path::new(p).exists());
        if fresh && paths_exist {
            return out;
        }
    }
    let output = Command::new(root.join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    assert!(output.status.success(), "{script} failed");
    let out = String::from_utf8(output.stdout).expect("utf8");
    std::fs::write(&cached, &out).expect("cache the output");
    out
}

pub struct NpmServers {
    pub everything: PathBuf,
    pub filesystem: PathBuf,
}

pub fn npm() -> &'static NpmServers {
    static ONCE: OnceLock<NpmServers> = OnceLock::new();
    ONCE.get_or_init(|| {
        let out = setup(
            "tests/support/mcp-servers.sh",
            &["tests/support/mcp/package-lock.json"],
        );
        let find = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("mcp-servers.sh printed no {name}: {out}"))
        };
        NpmServers {
            everything: find("everything"),
            filesystem: find("filesystem"),
        }
    })
}

pub fn python() -> &'static PathBuf {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| PathBuf::from(setup("tests/support/python-venv.sh", &[]).trim()))
}

/// server-everything over stdio.
pub fn everything() -> McpServerConfig {
    McpServerConfig::stdio(npm().everything.to_string_lossy(), ["stdio".to_string()])
}

/// The Python server over stdio.
pub fn py_server() -> McpServerConfig {
    McpServerConfig::stdio(
        python().to_string_lossy(),
        [repo_root()
            .join("tests/support/mcp/py_server.py")
            .to_string_lossy()
            .into_owned()],
    )
}

/// A secret store in a temporary directory holding `values`.
pub fn secrets(values: &[(&str, &str)]) -> (tempfile::TempDir, Arc<SecretStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeySource::File {
        path: dir.path().join("secrets.key"),
    };
    let mut store = SecretStore::open(&dir.path().join("secrets.enc"), &key).expect("store");
    for (name, value) in values {
        store.set(name, SecretValue::new(*value)).expect("set");
    }
    (dir, Arc::new(store))
}

pub struct Started {
    pub servers: McpServers,
    pub errors: Vec<StartError>,
    _secrets_dir: tempfile::TempDir,
}

impl Started {
    pub fn tool_names(&self) -> Vec<String> {
        self.servers.tools().into_iter().map(|t| t.name).collect()
    }

    /// A call that must produce a result; its text.
    pub async fn text(&self, tool: &str, args: &str) -> String {
        let result = self
            .servers
            .call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(!result.is_error, "{tool} failed: {}", result.text);
        result.text
    }
}

pub async fn start(configs: Vec<(&str, McpServerConfig)>, secrets: &[(&str, &str)]) -> Started {
    start_with(configs, secrets, Arc::new(SystemResolver)).await
}

pub async fn start_with(
    configs: Vec<(&str, McpServerConfig)>,
    secret_values: &[(&str, &str)],
    resolver: Arc<dyn chitin_egress::Resolver>,
) -> Started {
    init_tracing();
    let (dir, store) = secrets(secret_values);
    let configs: McpConfig = configs
        .into_iter()
        .map(|(id, c)| (id.to_string(), c))
        .collect::<BTreeMap<_, _>>();
    let (servers, errors) = McpServers::start(configs, store, egress_factory(resolver)).await;
    Started {
        servers,
        errors,
        _secrets_dir: dir,
    }
}

/// A resolver knowing only `name` → 127.0.0.1.
pub fn loopback_name(name: &str) -> Arc<dyn chitin_egress::Resolver> {
    Arc::new(StaticResolver::new([(
        name.to_string(),
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    )]))
}

/// Logs to the test's output when RUST_LOG is set (e.g. `RUST_LOG=chitin_mcp=debug,rmcp=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// An MCP server listening on 127.0.0.1:`port` (a child process), killed on drop.
pub struct HttpServer {
    pub port: u16,
    child: tokio::process::Child,
}

impl HttpServer {
    /// server-everything in its Streamable HTTP mode.
    pub async fn everything() -> HttpServer {
        let port = free_port();
        let mut command = tokio::process::Command::new(&npm().everything);
        command.arg("streamableHttp").env("PORT", port.to_string());
        HttpServer::spawn(command, port, "listening on port").await
    }

    /// The Python server in its Streamable HTTP mode.
    pub async fn python() -> HttpServer {
        let port = free_port();
        let mut command = tokio::process::Command::new(python());
        command
            .arg(repo_root().join("tests/support/mcp/py_server.py"))
            .args(["--http", &port.to_string()]);
        HttpServer::spawn(command, port, "Uvicorn running on").await
    }

    async fn spawn(mut command: tokio::process::Command, port: u16, ready: &str) -> HttpServer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the HTTP MCP server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .expect("the HTTP MCP server did not start listening within 30 s")
                .expect("read stderr")
                .expect("the HTTP MCP server exited before listening");
            if line.contains(ready) {
                break;
            }
        }
        // Keep draining its stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        HttpServer { port, child }
    }

    /// `http://localhost:<port>/mcp`
    pub fn url(&self) -> String {
        format!("http://localhost:{}/mcp", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// One HTTP request as a [`Redirector`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub head: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Not an MCP server: answers every request on 127.0.0.1 with a `307` to `location`, and
/// records what it received.
pub struct Redirector {
    pub port: u16,
    pub received: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Redirector {
    pub async fn start(location: &str) -> Redirector {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        let location = location.to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]).into_owned();
                log.lock().expect("log").push(Received { head });
                let response = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        Redirector { port, received }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub async fn eventually<T>(limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f().await {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a process with this id exists.
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(' ').nth(2) == Some("Z"))
            .unwrap_or(true)
}
