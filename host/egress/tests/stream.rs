//! Streamed responses (`fetch_stream`) against servers on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chitin_egress::{
    BodyStream, EgressClient, EgressError, MAX_CHUNK_BYTES, Request, SecretBinding, StaticResolver,
    StreamingResponse,
};
use chitin_manifest::InjectAt;
use chitin_secrets::SecretValue;
use support::*;
use tokio::sync::oneshot;

/// Long enough that no test hangs when something is wrong.
const PATIENCE: Duration = Duration::from_secs(10);

async fn open(c: &EgressClient, req: Request) -> StreamingResponse {
    tokio::time::timeout(PATIENCE, c.fetch_stream(req))
        .await
        .expect("response head in time")
        .expect("fetch_stream")
}

async fn next(body: &mut BodyStream) -> Result<Option<Vec<u8>>, EgressError> {
    tokio::time::timeout(PATIENCE, body.next_chunk())
        .await
        .expect("chunk in time")
}

/// Every remaining chunk, each checked to be non-empty and at most `MAX_CHUNK_BYTES`.
async fn rest(body: &mut BodyStream) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    while let Some(chunk) = next(body).await.expect("chunk") {
        assert!(!chunk.is_empty() && chunk.len() <= MAX_CHUNK_BYTES);
        chunks.push(chunk);
    }
    chunks
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn events_are_delivered_as_they_arrive() {
    let (go, wait) = oneshot::channel();
    let server = ScriptedServer::start(vec![
        Step::Chunk(b"data: one\n\n".to_vec()),
        Step::Wait(wait),
        Step::Sleep(Duration::from_millis(100)),
        Step::Chunk(b"data: two\n\n".to_vec()),
        Step::Sleep(Duration::from_millis(100)),
        Step::Chunk(b"data: three\n\n".to_vec()),
    ])
    .await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        resolver(&[]),
    );
    let mut resp = open(&c, Request::get(server.url("/events"))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        header(&resp.headers, "content-type"),
        Some("text/event-stream")
    );
    assert_eq!(resp.final_url, server.url("/events"));

    // The server is still waiting for us to say it may go on.
    let first = next(&mut resp.body).await.expect("first chunk");
    assert_eq!(first.as_deref(), Some(&b"data: one\n\n"[..]));
    assert!(!server.finished());
    go.send(()).expect("server waiting");

    // Pauses between events are not errors; nothing is lost or reordered.
    let all: Vec<u8> = rest(&mut resp.body).await.concat();
    assert_eq!(all, b"data: two\n\ndata: three\n\n");
    // After the end, the end again.
    assert_eq!(next(&mut resp.body).await, Ok(None));
    assert_eq!(next(&mut resp.body).await, Ok(None));
}

#[tokio::test]
async fn secret_split_across_network_writes_is_redacted() {
    let (go, wait) = oneshot::channel();
    let intro = "data: the first event, longer than any secret value\n\n";
    let server = ScriptedServer::start(vec![
        Step::Chunk(format!("{intro}data: tok-9f8e").into_bytes()),
        Step::Wait(wait),
        Step::Chunk(b"7d6c5b4a\n\ndata: pass%2Fwo".to_vec()),
        Step::Sleep(Duration::from_millis(50)),
        Step::Chunk(b"rd%201 and pass/wo".to_vec()),
        Step::Sleep(Duration::from_millis(50)),
        Step::Chunk(b"rd 1\n\ndata: tok-9f".to_vec()),
    ])
    .await;
    let port = server.port();
    let mut p = with_secret(
        policy(&[&format!("http://127.0.0.1:{port}")]),
        "TOKEN",
        &[&format!("http://127.0.0.1:{port}")],
        &[InjectAt::Header],
    );
    p.secrets.push(SecretBinding {
        name: "KEY".to_string(),
        value: SecretValue::new("pass/word 1"),
        audience: vec![pattern(&format!("http://127.0.0.1:{port}"))],
        inject: vec![InjectAt::Path],
    });
    let c = client(p, resolver(&[]));
    // The percent-encoded form used in a path is one the client redacts.
    assert_eq!(c.redactor().redact("pass%2Fword%201"), "[REDACTED:KEY]");

    let mut resp = open(&c, Request::get(server.url("/events"))).await;
    assert_eq!(header(&resp.headers, "content-length"), None);
    // The first event comes through while the server waits; the start of the value does not.
    let first = next(&mut resp.body)
        .await
        .expect("chunk")
        .expect("first chunk");
    assert!(
        first.len() > 20 && intro.as_bytes().starts_with(&first),
        "{first:?}"
    );
    assert!(!String::from_utf8_lossy(&first).contains("tok-"));
    assert!(!server.finished());
    go.send(()).expect("server waiting");

    let mut chunks = vec![first];
    chunks.extend(rest(&mut resp.body).await);
    for chunk in &chunks {
        let text = String::from_utf8_lossy(chunk);
        for fragment in ["9f8e", "7d6c", "pass%2F", "pass/"] {
            assert!(!text.contains(fragment), "`{fragment}` in {text:?}");
        }
    }
    let all = String::from_utf8(chunks.concat()).expect("utf8");
    assert_eq!(
        all,
        format!(
            "{intro}data: [REDACTED:TOKEN]\n\ndata: [REDACTED:KEY] and [REDACTED:KEY]\n\n\
             data: tok-9f"
        )
    );
}

#[tokio::test]
async fn size_limit_is_enforced_on_the_chunk_that_crosses_it() {
    let (go, wait) = oneshot::channel();
    let server = ScriptedServer::start(vec![
        Step::Chunk(vec![b'a'; 60]),
        Step::Wait(wait),
        Step::Chunk(vec![b'b'; 60]),
        Step::Chunk(vec![b'c'; 60]),
    ])
    .await;
    let mut p = policy(&[&format!("http://127.0.0.1:{}", server.port())]);
    p.limits.max_response_bytes = 100;
    let c = client(p, resolver(&[]));
    let mut resp = open(&c, Request::get(server.url("/events"))).await;
    assert_eq!(next(&mut resp.body).await, Ok(Some(vec![b'a'; 60])));
    go.send(()).expect("server waiting");
    for _ in 0..3 {
        assert_eq!(
            next(&mut resp.body).await,
            Err(EgressError::TooLarge { limit: 100 })
        );
    }
}

#[tokio::test]
async fn deadline_keeps_running_while_the_body_stalls() {
    let (_never, wait) = oneshot::channel::<()>();
    let server = ScriptedServer::start(vec![
        Step::Chunk(b"data: one\n\n".to_vec()),
        Step::Wait(wait),
    ])
    .await;
    let other = Server::start().await;
    let mut p = policy(&[
        &format!("http://127.0.0.1:{}", server.port()),
        &format!("http://127.0.0.1:{}", other.port()),
    ]);
    p.limits.max_concurrent = 1;
    p.limits.queue_timeout = Duration::from_millis(50);
    let c = client(p, resolver(&[]));
    let mut req = Request::get(server.url("/events"));
    req.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let mut resp = open(&c, req).await;
    assert_eq!(
        next(&mut resp.body).await,
        Ok(Some(b"data: one\n\n".to_vec()))
    );
    let timeout = Err(EgressError::Timeout(Duration::from_millis(300)));
    assert_eq!(next(&mut resp.body).await, timeout);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(next(&mut resp.body).await, timeout);
    // The failed stream gave its slot back although it is still alive.
    c.fetch(Request::get(other.url("/body")))
        .await
        .expect("slot free after the timeout");
    drop(resp);
}

#[tokio::test]
async fn slot_is_held_until_the_stream_is_dropped_or_finished() {
    let (_never, wait) = oneshot::channel::<()>();
    let stalled = ScriptedServer::start(vec![
        Step::Chunk(b"data: one\n\n".to_vec()),
        Step::Wait(wait),
    ])
    .await;
    let server = Server::start().await;
    let mut p = policy(&[
        &format!("http://127.0.0.1:{}", stalled.port()),
        &format!("http://127.0.0.1:{}", server.port()),
    ]);
    p.limits.max_concurrent = 1;
    p.limits.queue_timeout = Duration::from_millis(100);
    let c = client(p, resolver(&[]));

    let mut resp = open(&c, Request::get(stalled.url("/events"))).await;
    next(&mut resp.body).await.expect("first chunk");
    match c.fetch(Request::get(server.url("/body"))).await {
        Err(EgressError::QuotaExceeded(msg)) => assert!(msg.contains("1 requests in flight")),
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    drop(resp);
    let body = c
        .fetch(Request::get(server.url("/body")))
        .await
        .expect("slot free after the drop")
        .body;
    assert_eq!(body, b"hello");

    // A stream read to its end gives the slot back while it is still alive.
    let mut finished = open(&c, Request::get(server.url("/body"))).await;
    assert_eq!(rest(&mut finished.body).await.concat(), b"hello");
    let mut again = open(&c, Request::get(server.url("/body"))).await;
    assert_eq!(rest(&mut again.body).await.concat(), b"hello");
    drop(finished);
}

#[tokio::test]
async fn large_reads_are_split_and_match_fetch() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        resolver(&[]),
    );
    let mut resp = open(&c, Request::get(server.url("/huge?bytes=200000"))).await;
    // Nothing to redact: the server's length stands.
    assert_eq!(header(&resp.headers, "content-length"), Some("200000"));
    let chunks = rest(&mut resp.body).await;
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    assert_eq!(chunks.concat(), vec![b'x'; 200000]);

    // With secrets, the streamed body is what fetch returns, minus a Content-Length that
    // redaction would make wrong.
    let port = server.port();
    let dns = resolver(&[("api.example.test", &["127.0.0.1"])]);
    let p = with_secret(
        allow_private(
            policy(&[&format!("http://api.example.test:{port}")]),
            &["127.0.0.1/32"],
        ),
        "TOKEN",
        &[&format!("http://api.example.test:{port}")],
        &[InjectAt::Header],
    );
    let c = client(p, dns);
    let mut req = Request::get(format!("http://api.example.test:{port}/echo"));
    req.headers = vec![("authorization".into(), "Bearer {{secret:TOKEN}}".into())];
    let fetched = c.fetch(req.clone()).await.expect("fetch");
    let mut streamed = open(&c, req).await;
    assert_eq!(header(&streamed.headers, "content-length"), None);
    assert_eq!(
        header(&streamed.headers, "x-echo-authorization"),
        Some("Bearer [REDACTED:TOKEN]")
    );
    let body = rest(&mut streamed.body).await.concat();
    assert_eq!(body, fetched.body);
    assert!(String::from_utf8_lossy(&body).contains("Bearer [REDACTED:TOKEN]"));
}

/// fetch reads its body through fetch_stream's code path; a refused request fails the same way
/// through both, before anything is looked up or sent.
#[tokio::test]
async fn denials_are_the_same_for_fetch_and_fetch_stream() {
    let server = Server::start().await;
    let port = server.port();
    let dns: Arc<StaticResolver> = resolver(&[
        ("evil.test", &["127.0.0.1"]),
        ("api.example.test", &["127.0.0.1"]),
    ]);
    let p = with_secret(
        policy(&[
            &format!("http://127.0.0.1:{port}"),
            &format!("http://api.example.test:{port}"),
        ]),
        "TOKEN",
        &[&format!("http://api.example.test:{port}")],
        &[InjectAt::Header],
    );
    let c = client(p, dns.clone());
    let mut outside_audience = Request::get(server.url("/echo"));
    outside_audience.headers = vec![("authorization".into(), "Bearer {{secret:TOKEN}}".into())];
    for (req, needle) in [
        (
            Request::get(format!("http://evil.test:{port}/body")),
            "evil.test",
        ),
        (outside_audience, "secret TOKEN may only be sent to"),
    ] {
        let fetched = c.fetch(req.clone()).await.expect_err("fetch refused");
        let streamed = c.fetch_stream(req).await.expect_err("fetch_stream refused");
        assert!(fetched.is_denied(), "{fetched:?}");
        assert!(fetched.to_string().contains(needle), "{fetched}");
        assert_eq!(streamed, fetched);
    }
    assert!(dns.lookups().is_empty(), "{:?}", dns.lookups());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_stream_can_be_read_from_another_task() {
    let server = Server::start().await;
    let c = client(
        policy(&[&format!("http://127.0.0.1:{}", server.port())]),
        resolver(&[]),
    );
    let resp = open(&c, Request::get(server.url("/body"))).await;
    let mut body = resp.body;
    let read = tokio::spawn(async move { body.next_chunk().await });
    assert_eq!(read.await.expect("join"), Ok(Some(b"hello".to_vec())));
}
