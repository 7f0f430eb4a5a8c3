//! The WebSocket control protocol (docs/protocol.md): the upgrade with its origin check, the
//! `connect` handshake, then a reader that runs requests concurrently and a writer that owns
//! the socket's sending half (responses, events with their sequence numbers, ticks, pings).

pub mod frames;
pub mod hub;
pub mod methods;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use self::frames::{PROTOCOL_VERSION, RpcError, parse_request, response_err, response_ok};
use self::hub::{Client, CloseReason, Outbound};
use crate::GatewayState;
use crate::auth::Verdict;

/// The protocol's tunables. Defaults are what docs/protocol.md states; the operator can change
/// them under `[gateway]`.
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Largest message (and frame) accepted; bigger ones close the connection with 1009.
    pub max_frame_bytes: usize,
    /// Tick events and pings go out this often; 3 intervals of silence close the connection.
    pub tick_interval: Duration,
    /// Time from the upgrade to a `connect` request.
    pub connect_timeout: Duration,
    /// Requests of one connection running at once.
    pub max_in_flight: usize,
    /// Frames queued for a client before it counts as a slow consumer.
    pub outbound_queue: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame_bytes: 1024 * 1024,
            tick_interval: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 32,
            outbound_queue: 1024,
        }
    }
}

pub async fn upgrade(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refusal) = crate::auth::check_origin(&headers, &state.allowed_origins) {
        return (axum::http::StatusCode::FORBIDDEN, refusal).into_response();
    }
    let limit = state.limits.max_frame_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| connection(socket, state, peer.ip()))
}

/// Why a handshake ended without a connection: what to answer (if anything) and how to close.
struct Rejection {
    answer: Option<(Value, RpcError)>,
    close: Option<CloseReason>,
}

struct Hello {
    request_id: Value,
    name: String,
    version: String,
}

async fn connection(socket: WebSocket, state: Arc<GatewayState>, peer: IpAddr) {
    let (mut sink, mut stream) = socket.split();
    let hello = match handshake(&mut stream, &state, peer).await {
        Ok(hello) => hello,
        Err(rejection) => {
            if let Some((id, error)) = rejection.answer {
                let _ = sink
                    .send(Message::Text(response_err(&id, &error).into()))
                    .await;
            }
            if let Some((code, reason)) = rejection.close {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
            }
            return;
        }
    };
    let id = state.hub.next_connection_id();
    let payload = json!({
        "protocol": PROTOCOL_VERSION,
        "server": {"name": "chitin", "version": env!("CARGO_PKG_VERSION")},
        "connectionId": id,
        "methods": methods::METHODS,
        "events": methods::EVENTS,
        "limits": {
            "maxFrameBytes": state.limits.max_frame_bytes,
            "tickIntervalMs": state.limits.tick_interval.as_millis() as u64,
            "maxInFlight": state.limits.max_in_flight,
        },
        "agents": state.runtime.agent_ids().iter()
            .filter_map(|a| state.runtime.agent(a).ok())
            .map(|a| json!({"id": a.id, "model": a.config.model}))
            .collect::<Vec<_>>(),
    });
    if sink
        .send(Message::Text(
            response_ok(&hello.request_id, payload).into(),
        ))
        .await
        .is_err()
    {
        return;
    }
    let (outbound, queued) = mpsc::channel(state.limits.outbound_queue);
    let (close, closing) = watch::channel(None);
    let client = Client::new(id.clone(), hello.name, hello.version, outbound, close);
    let writer = tokio::spawn(write_loop(
        sink,
        queued,
        closing.clone(),
        state.limits.tick_interval,
    ));
    state.hub.register(client.clone());
    read_loop(&mut stream, &state, &client, closing).await;
    state.hub.unregister(&id);
    client.close(close_code::NORMAL, "");
    // The writer finishes within CLOSE_GRACE unless a send to a client that stopped reading
    // is stuck; dropping it then closes the socket.
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_GRACE * 2, writer).await.is_err() {
        abort.abort();
    }
}

async fn handshake(
    stream: &mut SplitStream<WebSocket>,
    state: &GatewayState,
    peer: IpAddr,
) -> Result<Hello, Rejection> {
    let policy = |reason: &str| Some((close_code::POLICY, reason.to_string()));
    let deadline = tokio::time::Instant::now() + state.limits.connect_timeout;
    let text = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return Err(Rejection {
                    answer: None,
                    close: policy("connect timeout: send `connect` first"),
                });
            }
            Ok(Some(Ok(Message::Text(text)))) => break text,
            Ok(Some(Ok(Message::Binary(_)))) => {
                return Err(Rejection {
                    answer: None,
                    close: Some((
                        close_code::UNSUPPORTED,
                        "binary frames are not accepted".into(),
                    )),
                });
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Err(err))) => {
                return Err(Rejection {
                    answer: None,
                    close: read_error_close(&err, state.limits.max_frame_bytes),
                });
            }
            Ok(Some(Ok(Message::Close(_))) | None) => {
                return Err(Rejection {
                    answer: None,
                    close: None,
                });
            }
        }
    };
    let request = parse_request(&text).map_err(|bad| Rejection {
        answer: Some(*bad),
        close: policy("invalid connect frame"),
    })?;
    let id = Value::String(request.id.clone());
    let reject = |error: RpcError, close: CloseReason| Rejection {
        answer: Some((id.clone(), error)),
        close: Some(close),
    };
    if request.method != "connect" {
        return Err(reject(
            RpcError::new(
                "CONNECT_REQUIRED",
                format!(
                    "`{}` before `connect`; the first request must be connect",
                    request.method
                ),
            ),
            (close_code::POLICY, "connect required".into()),
        ));
    }
    let params = &request.params;
    let (Some(min), Some(max)) = (
        params["minProtocol"].as_u64(),
        params["maxProtocol"].as_u64(),
    ) else {
        return Err(reject(
            RpcError::invalid("connect needs integer `minProtocol` and `maxProtocol` (both 1)"),
            (close_code::POLICY, "invalid connect frame".into()),
        ));
    };
    if !(min..=max).contains(&PROTOCOL_VERSION) {
        return Err(reject(
            RpcError::new(
                "PROTOCOL_MISMATCH",
                format!(
                    "this gateway speaks protocol {PROTOCOL_VERSION}; the client offered \
                     {min}..={max}"
                ),
            )
            .with_details(json!({"supported": [PROTOCOL_VERSION]})),
            (close_code::PROTOCOL, "protocol mismatch".into()),
        ));
    }
    let token = params["auth"]["token"].as_str();
    match state.auth.check_token(peer, token) {
        Verdict::Allowed => {}
        Verdict::Denied => {
            return Err(reject(
                RpcError::new(
                    "UNAUTHORIZED",
                    "missing or wrong token: pass params.auth.token = the gateway's [gateway] token",
                ),
                (close_code::POLICY, "unauthorized".into()),
            ));
        }
        Verdict::Locked(retry) => {
            let mut error = RpcError::new(
                "RATE_LIMITED",
                "too many failed authentication attempts from this address; wait and retry",
            );
            error.retry_after_ms = Some(retry.as_millis().max(1) as u64);
            return Err(reject(error, (close_code::POLICY, "rate limited".into())));
        }
    }
    let client_field = |name: &str, default: &str| {
        params["client"][name]
            .as_str()
            .map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect())
            .unwrap_or_else(|| default.to_string())
    };
    Ok(Hello {
        request_id: id.clone(),
        name: client_field("name", "unknown"),
        version: client_field("version", ""),
    })
}

/// What to tell a client whose frame could not be read.
fn read_error_close(err: &axum::Error, limit: usize) -> Option<CloseReason> {
    let too_big = std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tokio_tungstenite::tungstenite::Error>())
        .is_some_and(|err| matches!(err, tokio_tungstenite::tungstenite::Error::Capacity(_)));
    too_big.then(|| (close_code::SIZE, format!("frame larger than {limit} bytes")))
}

async fn read_loop(
    stream: &mut SplitStream<WebSocket>,
    state: &Arc<GatewayState>,
    client: &Client,
    mut closing: watch::Receiver<Option<CloseReason>>,
) {
    let silence = state.limits.tick_interval * 3;
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(silence, stream.next()) => message,
            _ = closing.changed() => return,
        };
        let text = match message {
            Err(_) => {
                client.close(close_code::AWAY, "no frames for 3 tick intervals");
                return;
            }
            Ok(None | Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Err(err))) => {
                if let Some((code, reason)) = read_error_close(&err, state.limits.max_frame_bytes) {
                    client.close(code, &reason);
                }
                return;
            }
            Ok(Some(Ok(Message::Binary(_)))) => {
                client.close(close_code::UNSUPPORTED, "binary frames are not accepted");
                return;
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Text(text)))) => text,
        };
        let request = match parse_request(&text) {
            Ok(request) => request,
            Err(bad) => {
                let (id, error) = *bad;
                client.send(Outbound::Text(response_err(&id, &error)));
                continue;
            }
        };
        let id = Value::String(request.id);
        if in_flight.fetch_add(1, Ordering::AcqRel) >= state.limits.max_in_flight {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            let mut busy = RpcError::new(
                "BUSY",
                format!(
                    "{} requests are already running on this connection; wait for answers",
                    state.limits.max_in_flight
                ),
            );
            busy.retry_after_ms = Some(100);
            client.send(Outbound::Text(response_err(&id, &busy)));
            continue;
        }
        let (state, client, in_flight) = (state.clone(), client.clone(), in_flight.clone());
        tokio::spawn(async move {
            let answer =
                match methods::dispatch(&state, &client, &request.method, &request.params).await {
                    Ok(payload) => response_ok(&id, payload),
                    Err(error) => response_err(&id, &error),
                };
            in_flight.fetch_sub(1, Ordering::AcqRel);
            client.send(Outbound::Text(answer));
        });
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Outbound>,
    mut closing: watch::Receiver<Option<CloseReason>>,
    tick_interval: Duration,
) {
    let mut seq = 0u64;
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + tick_interval, tick_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let frame = tokio::select! {
            // Frames already queued go out before a close, so a client sees the events that
            // explain it (e.g. `shutdown`).
            biased;
            frame = queued.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
            _ = closing.changed() => break,
            _ = tick.tick() => {
                let text = Outbound::Event { name: "tick", payload: json!({"tsMs": crate::now_ms()}) }
                    .render(&mut seq);
                if sink.send(Message::Text(text.into())).await.is_err()
                    || sink.send(Message::Ping(Default::default())).await.is_err()
                {
                    return;
                }
                continue;
            }
        };
        let text = frame.render(&mut seq);
        if sink.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    let (code, reason) = closing
        .borrow()
        .clone()
        .unwrap_or((close_code::NORMAL, String::new()));
    // Send what was queued before the close was decided, then the close frame; a client that
    // is not reading gets a short grace, not a writer stuck on a full socket.
    let finish = async move {
        while let Ok(frame) = queued.try_recv() {
            let text = frame.render(&mut seq);
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, finish).await;
}

/// How long a closing connection may take to flush its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
