//! Shared fixtures: the packed guest plugins, a sandbox with test services, and a small HTTP
//! server on 127.0.0.1 that the egress tests talk to.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chitin_egress::{Resolver, StaticResolver, SystemResolver};
use chitin_manifest::Grant;
use chitin_sandbox::{CallContext, HostServices, Plugin, PluginError, Sandbox, SandboxConfig};
use chitin_secrets::{KeySource, SecretStore, SecretValue};
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A packed plugin from `target/plugins/`.
pub fn plugin_path(id: &str) -> PathBuf {
    let path = repo_root()
        .join("target/plugins")
        .join(format!("{id}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `./dev build-plugins` first (./dev test does)",
        path.display()
    );
    path
}

/// The interpreter of the test virtualenv (`openai`, `mcp` and `jsonschema` from PyPI), set up
/// by tests/support/python-venv.sh on first use.
pub fn python() -> String {
    let out = std::process::Command::new(repo_root().join("tests/support/python-venv.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The value tests store as the secret `API_TOKEN`.
pub const API_TOKEN: &str = "tok-3f9a7c1e5b2d4680";

pub struct TestHost {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

/// Resolves the test names below from a table, standing in for DNS records an attacker
/// controls, and every other name (`localhost`) through the system resolver.
pub struct TestResolver {
    table: StaticResolver,
}

impl Resolver for TestResolver {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        if host.ends_with(".test") {
            self.table.lookup(host, port)
        } else {
            SystemResolver.lookup(host, port)
        }
    }
}

pub fn test_resolver() -> TestResolver {
    TestResolver {
        table: StaticResolver::new([
            (
                "rebind.test".to_string(),
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ),
            (
                "metadata.test".to_string(),
                vec![IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))],
            ),
            (
                "private.test".to_string(),
                vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))],
            ),
        ]),
    }
}

impl TestHost {
    /// A sandbox with a SQLite store, a secret store holding `API_TOKEN`, and the test resolver.
    pub fn new() -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        let store = chitin_store::Store::open(&dir.path().join("chitin.db")).unwrap();
        let key = KeySource::File {
            path: dir.path().join("secrets.key"),
        };
        let mut secrets = SecretStore::open(&dir.path().join("secrets.enc"), &key).unwrap();
        secrets
            .set("API_TOKEN", SecretValue::new(API_TOKEN))
            .unwrap();
        let services = HostServices {
            store: Some(Arc::new(store)),
            secrets: Arc::new(secrets),
            resolver: Arc::new(test_resolver()),
        };
        let config = SandboxConfig {
            cache_dir: aot_cache_dir(),
            pool: Default::default(),
        };
        TestHost {
            sandbox: Sandbox::new(config, services).unwrap(),
            dir,
        }
    }

    pub fn load(&self, id: &str, grant: &Grant) -> Plugin {
        self.sandbox
            .load_file(&plugin_path(id), grant)
            .unwrap_or_else(|err| panic!("loading {id}: {err}"))
    }
}

/// One AOT cache for the whole test run: compiling each guest once is enough.
pub fn aot_cache_dir() -> PathBuf {
    repo_root().join("target/test-aot-cache")
}

pub fn cx() -> CallContext {
    CallContext {
        call_id: "test".to_string(),
        agent_id: None,
        session_key: None,
    }
}

/// Calls a tool with JSON arguments.
pub async fn call(
    plugin: &Plugin,
    tool: &str,
    args: serde_json::Value,
) -> Result<String, PluginError> {
    plugin
        .call_tool(tool, &args.to_string(), &cx())
        .await
        .map(|out| out.content)
}

/// A grant parsed from TOML, as an operator would write it.
pub fn grant(toml_text: &str) -> Grant {
    toml::from_str(toml_text).unwrap_or_else(|err| panic!("bad test grant: {err}\n{toml_text}"))
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for egress tests. Routes:
/// `/hello` text; `/echo` returns the request line, headers and body it received;
/// `/redirect?to=URL` a 302; `/big?bytes=N` N bytes; `/slow` never answers.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Every raw request the server received (to prove what really went over the wire).
    pub received: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    break;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read headers, then the body by Content-Length.
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = find(&buf, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            while buf.len() < end + 4 + length {
                                let Ok(n) = socket.read(&mut chunk).await else {
                                    return;
                                };
                                if n == 0 {
                                    break;
                                }
                                buf.extend_from_slice(&chunk[..n]);
                            }
                            break;
                        }
                    }
                    let request = String::from_utf8_lossy(&buf).to_string();
                    log.lock().unwrap().push(request.clone());
                    let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let params: BTreeMap<&str, &str> = query
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .collect();
                    let response = match path {
                        "/hello" => ok("text/plain", "hello from the test server".into()),
                        "/page" => ok(
                            "text/html; charset=utf-8",
                            "<html><head><title>Test page</title></head><body><h1>Hi</h1>\
                             <p>Some <b>text</b>.</p><script>x()</script></body></html>"
                                .into(),
                        ),
                        "/echo" => ok("text/plain", request.clone().into_bytes()),
                        "/redirect" => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            params.get("to").copied().unwrap_or("/hello")
                        )
                        .into_bytes(),
                        "/big" => {
                            let n = params.get("bytes").and_then(|b| b.parse().ok()).unwrap_or(1 << 20);
                            ok("text/plain", vec![b'x'; n])
                        }
                        "/slow" => {
                            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                            return;
                        }
                        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        TestServer { addr, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

fn ok(content_type: &str, body: Vec<u8>) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Asserts an error has the expected code, printing it otherwise.
#[track_caller]
pub fn assert_code(result: &Result<String, PluginError>, code: &str) -> String {
    match result {
        Err(err) if err.code() == code => err.to_string(),
        Err(err) => panic!("expected {code}, got {} ({err})", err.code()),
        Ok(out) => panic!(
            "expected {code}, got success: {}",
            &out[..out.len().min(300)]
        ),
    }
}
