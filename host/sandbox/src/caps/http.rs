//! `chitin:plugin/http`: outbound HTTP through the plugin's egress policy (chitin-egress does
//! the allowlist, DNS/SSRF checks, pinning, redirects, secret injection and size limits).

use std::time::{Duration, Instant};

use chitin_egress::{EgressError, Request as EgressRequest};

use crate::bindings::host::chitin::plugin::http::{Host, HttpError, Request, Response};
use crate::state::PluginState;

impl Host for PluginState {
    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.host_call()?;
        self.call.http_requests += 1;
        let max_requests = self.ctx.grant.budgets.max_http_requests;
        if self.call.http_requests > max_requests {
            return Ok(Err(HttpError::QuotaExceeded(format!(
                "plugin `{}` may make at most {max_requests} HTTP requests per call \
                 (budgets.max_http_requests)",
                self.plugin_id()
            ))));
        }
        let ctx = self.ctx.clone();
        let Some(egress) = ctx.egress.as_ref() else {
            let target = url::Url::parse(&req.url)
                .ok()
                .and_then(|u| u.host_str().map(|h| format!("{}://{h}", u.scheme())))
                .unwrap_or_else(|| "https://<host>".to_string());
            let detail = format!(
                "plugin `{id}` has no outbound HTTP grant, so the request to {url} was refused; \
                 add \"{target}\" to outbound in [plugins.{id}.grant] (the plugin must also \
                 request it in its manifest)",
                id = self.plugin_id(),
                url = ctx.redactor.redact(&req.url),
            );
            self.deny("outbound HTTP", detail.clone());
            return Ok(Err(HttpError::Denied(detail)));
        };
        // A request may not outlive the call that made it.
        let remaining = self.call.deadline.saturating_duration_since(Instant::now());
        let timeout = match req.timeout_ms {
            Some(ms) => Duration::from_millis(ms.into()).min(remaining),
            None => remaining,
        };
        let request = EgressRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout: Some(timeout),
            follow_redirects: req.follow_redirects,
        };
        match egress.fetch(request).await {
            Ok(response) => Ok(Ok(Response {
                status: response.status,
                headers: response.headers,
                body: response.body,
                final_url: response.final_url,
            })),
            Err(err) => {
                let converted = match &err {
                    EgressError::Denied { .. } => {
                        self.deny("outbound HTTP", err.to_string());
                        HttpError::Denied(err.to_string())
                    }
                    EgressError::Timeout(_) => HttpError::Timeout,
                    EgressError::TooLarge { limit } => HttpError::TooLarge(*limit),
                    EgressError::QuotaExceeded(msg) => HttpError::QuotaExceeded(msg.clone()),
                    EgressError::InvalidRequest(msg) => HttpError::InvalidRequest(msg.clone()),
                    EgressError::Connection(msg) => HttpError::Connection(msg.clone()),
                    EgressError::Config(msg) => HttpError::Connection(msg.clone()),
                };
                Ok(Err(converted))
            }
        }
    }
}
