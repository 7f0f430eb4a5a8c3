//! The connected clients: who is there (presence), and delivery of responses and events to
//! one or all of them without ever blocking the sender.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::close_code;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// What the connection's writer sends. Events get their `seq` there, so numbering follows the
/// order frames actually go out.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    Event { name: &'static str, payload: Value },
}

impl Outbound {
    /// The frame's text; an event takes the connection's next sequence number.
    pub fn render(self, seq: &mut u64) -> String {
        match self {
            Outbound::Text(text) => text,
            Outbound::Event { name, payload } => {
                *seq += 1;
                super::frames::event(name, &payload, *seq)
            }
        }
    }
}

/// Why the server closes a connection: a close code and a reason for the client.
pub type CloseReason = (u16, String);

/// One connected, authenticated client.
#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub version: String,
    pub connected_at_ms: i64,
    outbound: mpsc::Sender<Outbound>,
    close: watch::Sender<Option<CloseReason>>,
}

impl Client {
    pub fn new(
        id: String,
        name: String,
        version: String,
        outbound: mpsc::Sender<Outbound>,
        close: watch::Sender<Option<CloseReason>>,
    ) -> Client {
        Client {
            id,
            name,
            version,
            connected_at_ms: crate::now_ms(),
            outbound,
            close,
        }
    }

    /// Queues a frame. A client whose queue is full is not keeping up: it is disconnected
    /// rather than letting its backlog grow without bound or holding up everyone else.
    pub fn send(&self, frame: Outbound) -> bool {
        match self.outbound.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(close_code::POLICY, "slow consumer: too many frames queued");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn event(&self, name: &'static str, payload: Value) -> bool {
        self.send(Outbound::Event { name, payload })
    }

    pub fn close(&self, code: u16, reason: &str) {
        self.close.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some((code, reason.to_string()));
            true
        });
    }
}

#[derive(Default)]
pub struct Hub {
    clients: Mutex<BTreeMap<String, Client>>,
    next_id: AtomicU64,
}

impl Hub {
    pub fn next_connection_id(&self) -> String {
        format!("c{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, client: Client) {
        self.lock().insert(client.id.clone(), client);
        self.broadcast("presence", self.presence());
    }

    pub fn unregister(&self, id: &str) {
        if self.lock().remove(id).is_some() {
            self.broadcast("presence", self.presence());
        }
    }

    pub fn get(&self, id: &str) -> Option<Client> {
        self.lock().get(id).cloned()
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    pub fn presence(&self) -> Value {
        let clients: Vec<Value> = self
            .lock()
            .values()
            .map(|c| {
                json!({
                    "connectionId": c.id,
                    "name": c.name,
                    "version": c.version,
                    "connectedAtMs": c.connected_at_ms,
                })
            })
            .collect();
        json!({"clients": clients})
    }

    pub fn broadcast(&self, name: &'static str, payload: Value) {
        let clients: Vec<Client> = self.lock().values().cloned().collect();
        for client in clients {
            client.event(name, payload.clone());
        }
    }

    /// Tells every client why, then closes them all.
    pub fn close_all(&self, code: u16, reason: &str) {
        let clients: Vec<Client> = self.lock().values().cloned().collect();
        for client in clients {
            client.event("shutdown", json!({"reason": reason}));
            client.close(code, reason);
        }
    }
}
