//! Operator approval of tool calls: a tool listed in `[agents.<id>] require_approval` waits
//! here until someone approves or denies it (web UI, `approvals.resolve`), or until it
//! expires, which counts as a denial. Every decision is written to the audit log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitin_store::Store;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, oneshot};

/// A tool call waiting for a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    pub id: String,
    pub agent_id: String,
    pub session_key: String,
    pub tool: String,
    /// The call's arguments as the model wrote them (JSON text).
    pub arguments: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
    /// Nobody decided in time.
    Expired,
    /// The run that asked stopped (aborted, timed out) before a decision.
    Cancelled,
}

impl Decision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Expired => "expired",
            Decision::Cancelled => "cancelled",
        }
    }
}

/// What subscribers (the gateway's connections) are told.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalEvent {
    Requested(PendingApproval),
    Resolved { id: String, decision: Decision },
}

struct Waiting {
    approval: PendingApproval,
    respond: oneshot::Sender<(Decision, Option<String>)>,
}

pub struct Approvals {
    pending: Mutex<BTreeMap<String, Waiting>>,
    events: broadcast::Sender<ApprovalEvent>,
    next_id: AtomicU64,
    timeout: Duration,
    store: Arc<Store>,
}

/// Removes the entry if the waiting future is dropped (the run was aborted or timed out), so
/// no stale approval stays listed. After a decision or an expiry the entry is already gone and
/// dropping the guard does nothing.
struct PendingGuard<'a> {
    approvals: &'a Approvals,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.approvals.take(&self.id).is_some() {
            self.approvals
                .finish(&self.id, Decision::Cancelled, "run", None);
        }
    }
}

impl Approvals {
    /// `timeout`: how long a request waits before it counts as denied.
    pub fn new(store: Arc<Store>, timeout: Duration) -> Approvals {
        Approvals {
            pending: Mutex::new(BTreeMap::new()),
            // Subscribers that fall this far behind miss events and re-list.
            events: broadcast::channel(256).0,
            next_id: AtomicU64::new(1),
            timeout,
            store,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.events.subscribe()
    }

    pub fn list(&self) -> Vec<PendingApproval> {
        self.lock().values().map(|w| w.approval.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Waiting>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, id: &str) -> Option<Waiting> {
        self.lock().remove(id)
    }

    fn finish(&self, id: &str, decision: Decision, actor: &str, reason: Option<&str>) {
        if let Err(err) = self.store.audit(
            actor,
            "approval.resolve",
            &json!({"id": id, "decision": decision.as_str(), "reason": reason}),
        ) {
            tracing::warn!(%err, "could not audit an approval decision");
        }
        let _ = self.events.send(ApprovalEvent::Resolved {
            id: id.to_string(),
            decision,
        });
    }

    /// Registers the call, tells subscribers, and waits for the decision. `on_pending` runs
    /// once the request is listed (the runtime uses it to tell the run's own stream).
    pub async fn request(
        &self,
        agent_id: &str,
        session_key: &str,
        tool: &str,
        arguments: &str,
        on_pending: impl FnOnce(&PendingApproval),
    ) -> (Decision, Option<String>) {
        let id = format!("ap{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let now = crate::dates::now_ms();
        let approval = PendingApproval {
            id: id.clone(),
            agent_id: agent_id.to_string(),
            session_key: session_key.to_string(),
            tool: tool.to_string(),
            arguments: arguments.to_string(),
            created_at_ms: now,
            expires_at_ms: now
                .saturating_add(i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)),
        };
        let (respond, decided) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Waiting {
                approval: approval.clone(),
                respond,
            },
        );
        let _withdraw_if_dropped = PendingGuard {
            approvals: self,
            id: id.clone(),
        };
        on_pending(&approval);
        let _ = self.events.send(ApprovalEvent::Requested(approval));
        match tokio::time::timeout(self.timeout, decided).await {
            Ok(Ok(outcome)) => outcome,
            // The sender is only dropped with the entry, which `resolve` takes; treat a lost
            // sender like an expiry rather than running the tool.
            Ok(Err(_)) | Err(_) => {
                if self.take(&id).is_some() {
                    self.finish(&id, Decision::Expired, "timeout", None);
                }
                (Decision::Expired, None)
            }
        }
    }

    /// Approves or denies a pending call. `Err` when no call with this id is waiting.
    pub fn resolve(
        &self,
        id: &str,
        approve: bool,
        actor: &str,
        reason: Option<String>,
    ) -> Result<PendingApproval, String> {
        let Some(waiting) = self.take(id) else {
            return Err(format!(
                "no pending approval `{id}` (already decided, expired, or never existed)"
            ));
        };
        let decision = if approve {
            Decision::Approve
        } else {
            Decision::Deny
        };
        self.finish(id, decision.clone(), actor, reason.as_deref());
        let _ = waiting.respond.send((decision, reason));
        Ok(waiting.approval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals(timeout: Duration) -> Arc<Approvals> {
        Arc::new(Approvals::new(
            Arc::new(Store::open_in_memory().unwrap()),
            timeout,
        ))
    }

    #[tokio::test]
    async fn approve_wakes_the_waiting_call_and_is_audited() {
        let approvals = approvals(Duration::from_secs(60));
        let mut events = approvals.subscribe();
        let waiter = {
            let approvals = approvals.clone();
            tokio::spawn(async move {
                approvals
                    .request("main", "agent:main:main", "exec", "{}", |_| {})
                    .await
            })
        };
        let ApprovalEvent::Requested(pending) = events.recv().await.unwrap() else {
            panic!("expected a request event");
        };
        assert_eq!(approvals.list(), vec![pending.clone()]);
        assert!(approvals.resolve("nope", true, "operator", None).is_err());
        approvals
            .resolve(&pending.id, true, "operator", Some("fine".into()))
            .unwrap();
        assert_eq!(
            waiter.await.unwrap(),
            (Decision::Approve, Some("fine".into()))
        );
        assert!(approvals.list().is_empty());
        assert_eq!(
            events.recv().await.unwrap(),
            ApprovalEvent::Resolved {
                id: pending.id.clone(),
                decision: Decision::Approve
            }
        );
        let audit = approvals.store.audit_recent(1).unwrap();
        assert_eq!(audit[0].action, "approval.resolve");
        assert_eq!(audit[0].detail["decision"], "approve");
        // Deciding twice is refused.
        assert!(
            approvals
                .resolve(&pending.id, false, "operator", None)
                .is_err()
        );
    }

    #[tokio::test]
    async fn unanswered_requests_expire_as_denials() {
        let approvals = approvals(Duration::from_millis(50));
        let (decision, _) = approvals.request("main", "s", "exec", "{}", |_| {}).await;
        assert_eq!(decision, Decision::Expired);
        assert!(approvals.list().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_run_withdraws_its_request() {
        let approvals = approvals(Duration::from_secs(60));
        let mut events = approvals.subscribe();
        let waiting = {
            let approvals = approvals.clone();
            tokio::spawn(async move { approvals.request("main", "s", "exec", "{}", |_| {}).await })
        };
        assert!(matches!(
            events.recv().await.unwrap(),
            ApprovalEvent::Requested(_)
        ));
        waiting.abort();
        let _ = waiting.await;
        assert!(approvals.list().is_empty());
        assert!(matches!(
            events.recv().await.unwrap(),
            ApprovalEvent::Resolved {
                decision: Decision::Cancelled,
                ..
            }
        ));
    }
}
