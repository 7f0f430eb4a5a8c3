//! MCP servers compiled to WebAssembly (mcp-bridge plugins): each JSON-RPC message rmcp sends
//! is handed to the plugin in the sandbox, and its answer is fed back as if it came over stdio.
//! Everything else — negotiation, listing, naming, rendering, timeouts — is the same code as
//! for external servers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// Handles one JSON-RPC message; `Ok(None)` for a notification. `Err` is a failure of the
/// sandbox (trap, budget) or the server refusing the message.
pub trait BridgeHandler: Send + Sync {
    fn handle(
        &self,
        message: String,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + '_>>;
}

/// A bridge in a transport description: compared by identity.
#[derive(Clone)]
pub(crate) struct BridgeRef(pub Arc<dyn BridgeHandler>);

impl std::fmt::Debug for BridgeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeRef")
    }
}

impl PartialEq for BridgeRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BridgeRef {}

/// Largest message a bridge may exchange (a line on the in-memory pipe).
const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// An in-memory pipe: rmcp gets one end as its stdio; a task reads newline-delimited messages
/// from the other end, runs them through the bridge and writes the answers back. Dropping the
/// returned end stops the task.
pub(crate) fn pump(bridge: Arc<dyn BridgeHandler>) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(MAX_MESSAGE_BYTES);
    let (read, mut write) = tokio::io::split(theirs);
    let (answers, mut to_write) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Messages run concurrently (each in its own sandbox instance), as calls to a stdio server
    // may; the answers go out in the order they finish, matched by id.
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            let (bridge, answers) = (bridge.clone(), answers.clone());
            tokio::spawn(async move {
                let id = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("id").cloned());
                let answer = match bridge.handle(line).await {
                    Ok(answer) => answer,
                    // A failed request still gets an answer, so the caller does not wait for
                    // its timeout; a failed notification has nobody to tell.
                    Err(why) => id.map(|id| {
                        serde_json::json!({
                            "jsonrpc": "2.0", "id": id,
                            "error": {"code": -32603, "message": why},
                        })
                        .to_string()
                    }),
                };
                if let Some(answer) = answer {
                    let _ = answers.send(answer.replace('\n', " "));
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Some(answer) = to_write.recv().await {
            if write.write_all(answer.as_bytes()).await.is_err()
                || write.write_all(b"\n").await.is_err()
            {
                return;
            }
        }
    });
    ours
}
