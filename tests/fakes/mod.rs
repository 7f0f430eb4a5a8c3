//! Fake model-provider servers for the provider plugins' integration tests.
//!
//! Each fake is a tokio HTTP/1.1 server on 127.0.0.1 (never anywhere else) that answers with
//! replies scripted per test, framed exactly as the vendor frames them: status codes, headers
//! (`content-type`, `retry-after`, rate-limit headers), `text/event-stream` bodies with SSE
//! framing or `application/x-ndjson` lines sent with chunked transfer encoding, split across
//! HTTP chunks at awkward places, and error bodies in the vendor's JSON shape. Every request is
//! recorded, so tests can check what the plugin sent (and what the host injected).

#![allow(dead_code)]

pub mod anthropic;
pub mod brave;
pub mod gemini;
pub mod ollama;
pub mod openai;
pub mod proxy;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Drop the connection before the body's end (no final chunk): a network failure.
    pub cut_off: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Sent with `content-length`.
    Whole(Vec<u8>),
    /// Sent with `transfer-encoding: chunked`, one HTTP chunk per piece, flushed with a pause
    /// between pieces.
    Chunks(Vec<Vec<u8>>),
}

impl Reply {
    /// A JSON body with `content-length`.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Whole(body.to_string().into_bytes()),
            cut_off: false,
        }
    }

    /// A 200 streamed body: `frames` concatenated, then re-cut into pieces of `piece` bytes so
    /// that events straddle HTTP chunks.
    pub fn stream(content_type: &str, frames: &[String], piece: usize) -> Reply {
        let all: Vec<u8> = frames.concat().into_bytes();
        Reply {
            status: 200,
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Body::Chunks(all.chunks(piece.max(1)).map(<[u8]>::to_vec).collect()),
            cut_off: false,
        }
    }

    /// The same reply, but the connection is dropped before the end of the body.
    pub fn cut_off(mut self) -> Reply {
        self.cut_off = true;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Builds a reply from the request (scripts that echo what they received).
pub type Responder = Box<dyn FnOnce(&Recorded) -> Reply + Send>;

pub fn fixed(reply: Reply) -> Responder {
    Box::new(move |_| reply)
}

/// The HTTP server under every fake.
pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Serves `script` in order, one responder per request; requests past its end get a 500.
    pub async fn start(script: Vec<Responder>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (log, script) = (log.clone(), script.clone());
                tokio::spawn(async move {
                    serve(socket, log, script).await;
                });
            }
        });
        FakeServer { addr, requests }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The only request received (panics otherwise).
    pub fn request(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request, got {all:?}");
        all[0].clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Responder>>>,
) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    log.lock().unwrap().push(request.clone());
    let responder = script.lock().unwrap().pop_front();
    let reply = match responder {
        Some(responder) => responder(&request),
        None => Reply::json(
            500,
            serde_json::json!({"error": {"message": "the fake has no scripted reply left"}}),
        ),
    };
    let _ = write_reply(&mut socket, reply).await;
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Site Overloaded",
        _ => "Status",
    }
}

async fn write_reply(socket: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n");
    match reply.body {
        Body::Whole(body) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(&body).await?;
        }
        Body::Chunks(pieces) => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            socket.write_all(head.as_bytes()).await?;
            socket.flush().await?;
            for piece in pieces {
                socket
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                socket.write_all(&piece).await?;
                socket.write_all(b"\r\n").await?;
                socket.flush().await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if reply.cut_off {
                // No terminating chunk: the connection closes mid-body.
                return Ok(());
            }
            socket.write_all(b"0\r\n\r\n").await?;
        }
    }
    socket.flush().await
}

/// One SSE event with a name (`event:` + `data:`), as Anthropic frames them.
pub fn sse_named(event: &str, data: &serde_json::Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// One SSE event with data only, terminated with `eol` twice (`\n` or `\r\n`).
pub fn sse_data(data: &str, eol: &str) -> String {
    format!("data: {data}{eol}{eol}")
}

/// Unix time now plus `secs`, as RFC 3339 (`2026-11-21T10:00:30Z`).
pub fn rfc3339_in(secs: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}
