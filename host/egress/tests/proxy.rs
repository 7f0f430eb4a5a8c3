//! Requests sent through an operator's HTTP proxy: a tiny forward proxy on 127.0.0.1 (absolute
//! form only, one request per connection) that records what it was asked and forwards it to
//! 127.0.0.1 whatever the target's name, so nothing here ever leaves the machine.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chitin_egress::{EgressError, Request};
use chitin_manifest::InjectAt;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy was asked: the request line's target and the headers it got.
#[derive(Debug, Clone)]
struct Proxied {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

struct Proxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Proxied>>>,
    connections: Arc<Mutex<usize>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (log2, connections2) = (log.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *connections2.lock().expect("count") += 1;
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = forward(stream, log).await;
                });
            }
        });
        Proxy {
            addr,
            log,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    fn requests(&self) -> Vec<Proxied> {
        self.log.lock().expect("log").clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().expect("count")
    }
}

/// Reads one absolute-form request, sends it on in origin form to 127.0.0.1 at the target's
/// port, and copies the answer back. Anything else gets a 501.
async fn forward(mut client: TcpStream, log: Arc<Mutex<Vec<Proxied>>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = client.read(&mut tmp).await?;
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
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    log.lock().expect("log").push(Proxied {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
    });
    let Ok(url) = url::Url::parse(&target) else {
        client
            .write_all(b"HTTP/1.1 501 X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await?;
        return client.shutdown().await;
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let content_length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let n = client.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in &headers {
        if !n.starts_with("proxy-") && n != "connection" {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    out.push_str("connection: close\r\n\r\n");
    // Only ever 127.0.0.1: this machine must not reach anything else.
    let mut upstream = TcpStream::connect(("127.0.0.1", port)).await?;
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(&body).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    client.write_all(&answer).await?;
    client.shutdown().await
}

fn via(mut req: Request, proxy: &Proxy) -> Request {
    req.proxy = Some(proxy.url());
    req
}

fn expect_denied<T: std::fmt::Debug>(result: Result<T, EgressError>, needles: &[&str]) {
    match result {
        Err(e @ EgressError::Denied { .. }) => {
            let text = e.to_string();
            for needle in needles {
                assert!(text.contains(needle), "`{needle}` not in: {text}");
            }
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_go_through_the_proxy() {
    let server = Server::start().await;
    let proxy = Proxy::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        resolver(&[]),
    );
    let resp = c
        .fetch(via(Request::get(server.url("/body")), &proxy))
        .await
        .expect("fetch");
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(resp.final_url, server.url("/body"));
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, server.url("/body"));
    assert_eq!(server.requests().len(), 1);

    // Streaming takes the same way.
    let mut streamed = c
        .fetch_stream(via(Request::get(server.url("/body")), &proxy))
        .await
        .expect("fetch_stream");
    let mut body = Vec::new();
    while let Some(chunk) = streamed.body.next_chunk().await.expect("chunk") {
        body.extend(chunk);
    }
    assert_eq!(body, b"hello");
    assert_eq!(proxy.requests().len(), 2);

    // Without a proxy the same client goes direct.
    c.fetch(Request::get(server.url("/body")))
        .await
        .expect("direct");
    assert_eq!(proxy.requests().len(), 2);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_proxy_named_by_host_name_is_resolved_without_range_checks() {
    let server = Server::start().await;
    let proxy = Proxy::start().await;
    // The proxy is on loopback, which a plugin's own request could not reach by name.
    let dns = resolver(&[("proxy.test", &["127.0.0.1"])]);
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        dns.clone(),
    );
    let mut req = Request::get(server.url("/body"));
    req.proxy = Some(format!("http://proxy.test:{}", proxy.addr.port()));
    let resp = c.fetch(req).await.expect("fetch");
    assert_eq!(resp.body, b"hello");
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(dns.lookups(), ["proxy.test"]);
}

#[tokio::test]
async fn an_unlisted_target_is_denied_without_contacting_the_proxy() {
    let server = Server::start().await;
    let proxy = Proxy::start().await;
    let dns = resolver(&[("evil.test", &["127.0.0.1"])]);
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        dns.clone(),
    );
    let url = format!("http://evil.test:{}/body", server.port());
    expect_denied(
        c.fetch(via(Request::get(url), &proxy)).await,
        &["evil.test", "outbound", "tester"],
    );
    assert!(dns.lookups().is_empty(), "looked up {:?}", dns.lookups());
    assert_eq!(proxy.connections(), 0);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_target_resolving_to_a_special_range_is_refused_before_the_proxy() {
    let server = Server::start().await;
    let proxy = Proxy::start().await;
    let port = server.port();
    let dns = resolver(&[
        ("internal.test", &["127.0.0.1"]),
        ("metadata.test", &["169.254.169.254"]),
    ]);
    let c = client(
        policy(&[
            &format!("http://internal.test:{port}"),
            "http://metadata.test",
            &format!("http://127.0.0.1:{port}"),
        ]),
        dns.clone(),
    );
    expect_denied(
        c.fetch(via(
            Request::get(format!("http://internal.test:{port}/body")),
            &proxy,
        ))
        .await,
        &[
            "internal.test resolved to 127.0.0.1 (loopback)",
            "allow_private",
        ],
    );
    expect_denied(
        c.fetch_stream(via(Request::get("http://metadata.test/"), &proxy))
            .await,
        &["169.254.169.254 (link-local/metadata)"],
    );
    assert_eq!(proxy.connections(), 0);
    // A redirect to such a name is refused too, after the first hop went through the proxy.
    let to = percent_encode(&format!("http://internal.test:{port}/body"));
    expect_denied(
        c.fetch(via(
            Request::get(server.url(&format!("/redirect?to={to}"))),
            &proxy,
        ))
        .await,
        &["internal.test resolved to 127.0.0.1"],
    );
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        dns.lookups(),
        ["internal.test", "metadata.test", "internal.test"]
    );

    // allow_private admits it exactly as for a direct request.
    let c = client(
        allow_private(
            policy(&[&format!("http://internal.test:{port}")]),
            &["127.0.0.1/32"],
        ),
        dns,
    );
    let resp = c
        .fetch(via(
            Request::get(format!("http://internal.test:{port}/body")),
            &proxy,
        ))
        .await
        .expect("allowed");
    assert_eq!(resp.body, b"hello");
    assert_eq!(
        proxy.requests().last().map(|r| r.target.clone()),
        Some(format!("http://internal.test:{port}/body"))
    );
}

#[tokio::test]
async fn secrets_reach_their_audience_through_the_proxy_and_nothing_of_the_proxys_own() {
    let server = Server::start().await;
    let proxy = Proxy::start().await;
    let port = server.port();
    let api = format!("http://api.example.test:{port}");
    let p = allow_private(
        policy(&[&api, &format!("http://127.0.0.1:{port}")]),
        &["127.0.0.1/32"],
    );
    let c = client(
        with_secret(p, "TOKEN", &[&api], &[InjectAt::Header]),
        resolver(&[("api.example.test", &["127.0.0.1"])]),
    );
    let mut req = Request::get(format!("{api}/echo"));
    req.headers = vec![
        ("authorization".into(), "Bearer {{secret:TOKEN}}".into()),
        // Meant for a proxy; the operator's proxy is not the plugin's to authenticate to.
        (
            "proxy-authorization".into(),
            "Bearer {{secret:TOKEN}}".into(),
        ),
    ];
    let resp = c.fetch(via(req, &proxy)).await.expect("fetch");
    assert_eq!(resp.status, 200);
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(!body.contains(TOKEN_VALUE), "{body}");

    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, format!("{api}/echo"));
    let header = |name: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("authorization"),
        Some(format!("Bearer {TOKEN_VALUE}"))
    );
    assert_eq!(header("proxy-authorization"), None);
    let got = &server.requests()[0];
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {TOKEN_VALUE}").as_str())
    );

    // The same placeholder for a target outside the audience is refused before the proxy.
    let mut req = Request::get(server.url("/echo"));
    req.headers = vec![("authorization".into(), "Bearer {{secret:TOKEN}}".into())];
    expect_denied(
        c.fetch(via(req, &proxy)).await,
        &["secret TOKEN may only be sent to"],
    );
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn a_malformed_proxy_is_a_configuration_error() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        resolver(&[]),
    );
    for bad in [
        "127.0.0.1:3128",
        "https://127.0.0.1:3128",
        "socks5://127.0.0.1:1080",
        "http://user:pass@127.0.0.1:3128",
        "http://127.0.0.1:3128/path",
    ] {
        let mut req = Request::get(server.url("/body"));
        req.proxy = Some(bad.to_string());
        match c.fetch(req).await {
            Err(EgressError::Config(msg)) => {
                assert!(msg.contains("http://127.0.0.1:3128"), "{bad}: {msg}")
            }
            other => panic!("{bad}: expected a configuration error, got {other:?}"),
        }
    }
    assert!(server.requests().is_empty());
}
