//! A tiny HTTP/1.1 server on 127.0.0.1 for the egress tests, and helpers to build policies.
//!
//! Routes (by path; the query carries parameters):
//! - `/body` — 200 with body `hello`
//! - any path ending in `/echo` — 200; the body lists the request line, headers and body, and
//!   every request header comes back as `x-echo-<name>`
//! - `/huge?bytes=N` — N bytes with a Content-Length
//! - `/stream?bytes=N` — N bytes without a Content-Length (the connection closes at the end)
//! - `/redirect?to=URL&status=302` — a redirect to URL (percent-decoded)
//! - `/loop` — redirects to itself
//! - `/sleep?ms=N` — waits, then 200 `slept`
//!
//! Every request is recorded; [`Server::requests`] returns them.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitin_egress::{EgressClient, EgressLimits, EgressPolicy, Resolver, SecretBinding};
use chitin_manifest::{HostPattern, InjectAt};
use chitin_secrets::SecretValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = handle(stream, addr, log).await;
                });
            }
        });
        Server { addr, log }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").clone()
    }
}

async fn handle(
    mut stream: TcpStream,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let content_length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    let rec = Recorded {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
        body: body.clone(),
    };
    log.lock().expect("log").push(rec);

    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |key: &str| -> Option<String> {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| percent_decode(v))
        })
    };
    let mut extra: Vec<(String, String)> = Vec::new();
    let (status, body): (u16, Vec<u8>) = if path.ends_with("/echo") {
        let mut text = format!("{method} {target}\n");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}\n"));
            extra.push((format!("x-echo-{n}"), v.clone()));
        }
        text.push('\n');
        let mut out = text.into_bytes();
        out.extend_from_slice(&body);
        (200, out)
    } else if path == "/body" {
        (200, b"hello".to_vec())
    } else if path == "/huge" {
        let n: usize = param("bytes").and_then(|v| v.parse().ok()).unwrap_or(0);
        (200, vec![b'x'; n])
    } else if path == "/stream" {
        let n: usize = param("bytes").and_then(|v| v.parse().ok()).unwrap_or(0);
        let head = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n";
        stream.write_all(head.as_bytes()).await?;
        let chunk = vec![b'y'; 16 * 1024];
        let mut sent = 0;
        while sent < n {
            let k = chunk.len().min(n - sent);
            if stream.write_all(&chunk[..k]).await.is_err() {
                return Ok(());
            }
            sent += k;
        }
        return stream.shutdown().await;
    } else if path == "/redirect" {
        let status: u16 = param("status").and_then(|v| v.parse().ok()).unwrap_or(302);
        extra.push(("location".to_string(), param("to").unwrap_or_default()));
        (status, Vec::new())
    } else if path == "/loop" {
        extra.push((
            "location".to_string(),
            format!("http://{}:{}/loop", addr.ip(), addr.port()),
        ));
        (302, Vec::new())
    } else if path == "/sleep" {
        let ms: u64 = param("ms").and_then(|v| v.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        (200, b"slept".to_vec())
    } else {
        (404, b"not found".to_vec())
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn pattern(s: &str) -> HostPattern {
    HostPattern::parse(s).expect("test pattern")
}

pub fn policy(allow: &[&str]) -> EgressPolicy {
    EgressPolicy {
        plugin_id: "tester".to_string(),
        allow: allow.iter().map(|s| pattern(s)).collect(),
        allow_private: Vec::new(),
        secrets: Vec::new(),
        limits: EgressLimits {
            default_timeout: Duration::from_secs(10),
            ..EgressLimits::default()
        },
    }
}

pub fn allow_private(mut p: EgressPolicy, nets: &[&str]) -> EgressPolicy {
    p.allow_private = nets.iter().map(|n| n.parse().expect("net")).collect();
    p
}

pub const TOKEN_VALUE: &str = "tok-9f8e7d6c5b4a";

pub fn with_secret(
    mut p: EgressPolicy,
    name: &str,
    audience: &[&str],
    inject: &[InjectAt],
) -> EgressPolicy {
    p.secrets.push(SecretBinding {
        name: name.to_string(),
        value: SecretValue::new(TOKEN_VALUE),
        audience: audience.iter().map(|s| pattern(s)).collect(),
        inject: inject.to_vec(),
    });
    p
}

pub fn resolver(entries: &[(&str, &[&str])]) -> Arc<chitin_egress::StaticResolver> {
    Arc::new(chitin_egress::StaticResolver::new(entries.iter().map(
        |(name, addrs)| {
            (
                name.to_string(),
                addrs
                    .iter()
                    .map(|a| a.parse::<IpAddr>().expect("ip"))
                    .collect(),
            )
        },
    )))
}

pub fn client(p: EgressPolicy, resolver: Arc<dyn Resolver>) -> EgressClient {
    EgressClient::new(p, resolver).expect("client")
}

/// One step of a [`ScriptedServer`]'s response body.
pub enum Step {
    /// Send these bytes as one HTTP chunk (and flush them to the socket).
    Chunk(Vec<u8>),
    Sleep(Duration),
    /// Wait until the test says so (or drops the sender).
    Wait(tokio::sync::oneshot::Receiver<()>),
}

/// A server on 127.0.0.1 that answers one request with a chunked `text/event-stream` 200 whose
/// body follows a script, then ends the body.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    finished: tokio::sync::watch::Receiver<bool>,
}

impl ScriptedServer {
    pub async fn start(steps: Vec<Step>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (done, finished) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut tmp).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for step in steps {
                match step {
                    Step::Chunk(bytes) => {
                        let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
                        out.extend_from_slice(&bytes);
                        out.extend_from_slice(b"\r\n");
                        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                            return;
                        }
                    }
                    Step::Sleep(d) => tokio::time::sleep(d).await,
                    Step::Wait(rx) => {
                        let _ = rx.await;
                    }
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
            let _ = stream.shutdown().await;
            let _ = done.send(true);
        });
        ScriptedServer { addr, finished }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// Whether the whole body has been written.
    pub fn finished(&self) -> bool {
        *self.finished.borrow()
    }
}
