use std::time::Duration;

use chitin_secrets::Redactor;

/// Why a request was not made or did not complete. Every message is meant for the plugin author
/// or the operator, and says what to change. Messages never contain secret values: whatever a
/// server or the network put into them has gone through the plugin's redactor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The policy refused the request. `fix` names the grant entry that would allow it.
    #[error("{reason}; {fix}")]
    Denied { reason: String, fix: String },
    /// The request (including redirects and reading the body) took longer than this.
    #[error("request timed out after {}", fmt_duration(*.0))]
    Timeout(Duration),
    /// The response (its body or its headers) is larger than `limit` bytes.
    #[error("response is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A per-plugin quota (concurrent requests, redirects) is used up.
    #[error("{0}")]
    QuotaExceeded(String),
    /// DNS, TCP, TLS or HTTP failed.
    #[error("{0}")]
    Connection(String),
    /// The request is malformed or uses a trick the host refuses.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The policy or the client could not be built.
    #[error("egress configuration: {0}")]
    Config(String),
}

impl EgressError {
    /// Whether the policy refused the request (as opposed to it failing).
    pub fn is_denied(&self) -> bool {
        matches!(self, EgressError::Denied { .. })
    }

    pub(crate) fn denied(reason: impl Into<String>, fix: impl Into<String>) -> EgressError {
        EgressError::Denied {
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    /// The same error with every secret value in its text replaced.
    pub(crate) fn redacted(self, redactor: &Redactor) -> EgressError {
        let r = |s: String| redactor.redact(&s).into_owned();
        match self {
            EgressError::Denied { reason, fix } => EgressError::Denied {
                reason: r(reason),
                fix: r(fix),
            },
            EgressError::QuotaExceeded(m) => EgressError::QuotaExceeded(r(m)),
            EgressError::Connection(m) => EgressError::Connection(r(m)),
            EgressError::InvalidRequest(m) => EgressError::InvalidRequest(r(m)),
            EgressError::Config(m) => EgressError::Config(r(m)),
            other @ (EgressError::Timeout(_) | EgressError::TooLarge { .. }) => other,
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
