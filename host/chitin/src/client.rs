//! A client of a running gateway's WebSocket protocol (docs/protocol.md), for `chitin status`,
//! `chitin gateway call` and `chitin message send`.

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::config::Config;
use crate::home::Home;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where to reach the gateway and with which token: flags first, then the environment, then
/// `[gateway]` in chitin.toml.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// The gateway's WebSocket URL (default: from [gateway] bind/port, ws://127.0.0.1:18789/ws).
    #[arg(long, env = "CHITIN_GATEWAY_URL")]
    url: Option<String>,
    /// The gateway token (default: $CHITIN_GATEWAY_TOKEN, else [gateway] token).
    #[arg(long, env = "CHITIN_GATEWAY_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Target {
    fn resolve(&self, home: &Home) -> anyhow::Result<(String, Option<String>)> {
        if let (Some(url), token) = (&self.url, &self.token) {
            return Ok((url.clone(), token.clone()));
        }
        let config = Config::load(&home.config_file())?;
        let url = self
            .url
            .clone()
            .unwrap_or_else(|| config.gateway.local_url());
        let token = self.token.clone().or(config.gateway.token.clone());
        Ok((url, token))
    }
}

pub struct GatewayClient {
    socket: Socket,
    next_id: u64,
    url: String,
    pub hello: Value,
}

/// A protocol error answer, kept whole so callers can show its code.
#[derive(Debug)]
pub struct RemoteError(pub Value);

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.0["code"].as_str().unwrap_or("ERROR"),
            self.0["message"].as_str().unwrap_or("(no message)")
        )
    }
}

impl std::error::Error for RemoteError {}

impl GatewayClient {
    pub async fn connect(target: &Target, home: &Home, name: &str) -> anyhow::Result<Self> {
        let (url, token) = target.resolve(home)?;
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .with_context(|| {
                format!("connecting to the gateway at {url} (is `chitin gateway` running?)")
            })?;
        let mut client = GatewayClient {
            socket,
            next_id: 0,
            url,
            hello: Value::Null,
        };
        let mut params = json!({
            "minProtocol": 1, "maxProtocol": 1,
            "client": {"name": name, "version": env!("CARGO_PKG_VERSION")},
        });
        if let Some(token) = token {
            params["auth"] = json!({"token": token});
        }
        client.hello = client.call("connect", params, |_, _| {}).await?;
        Ok(client)
    }

    /// Sends a request and returns its payload; events that arrive meanwhile go to `on_event`.
    pub async fn call(
        &mut self,
        method: &str,
        params: Value,
        mut on_event: impl FnMut(&str, &Value),
    ) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .with_context(|| format!("sending to {}", self.url))?;
        loop {
            let frame = self.next_frame().await?;
            match frame["type"].as_str() {
                Some("res") if frame["id"] == id.as_str() => {
                    return if frame["ok"] == true {
                        Ok(frame["payload"].clone())
                    } else {
                        Err(RemoteError(frame["error"].clone()).into())
                    };
                }
                Some("event") => {
                    on_event(frame["event"].as_str().unwrap_or(""), &frame["payload"]);
                }
                _ => {}
            }
        }
    }

    /// The next event (responses to earlier requests are skipped).
    pub async fn next_event(&mut self) -> anyhow::Result<(String, Value)> {
        loop {
            let frame = self.next_frame().await?;
            if frame["type"] == "event" {
                return Ok((
                    frame["event"].as_str().unwrap_or("").to_string(),
                    frame["payload"].clone(),
                ));
            }
        }
    }

    async fn next_frame(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("the gateway closed the connection"))?
                .with_context(|| format!("reading from {}", self.url))?;
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).with_context(|| {
                        format!("the gateway sent a frame that is not JSON: {text}")
                    });
                }
                Message::Close(frame) => {
                    let why = frame
                        .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                        .unwrap_or_default();
                    anyhow::bail!("the gateway closed the connection {why}");
                }
                _ => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
