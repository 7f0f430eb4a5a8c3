//! `chitin:plugin/http`: outbound HTTP through the plugin's egress policy (chitin-egress does
//! the allowlist, DNS/SSRF checks, pinning, redirects, secret injection and size limits).

use std::time::{Duration, Instant};

use chitin_egress::{EgressError, Request as EgressRequest};

use wasmtime::component::Resource;

use crate::bindings::host::chitin::plugin::http::{
    Host, HostBodyStream, HttpError, Request, Response, ResponseHead,
};
use crate::state::PluginState;

/// A streamed response body held in the plugin's resource table. Egress enforces the size
/// budget and the request deadline on every chunk and redacts the plugin's secrets across
/// chunk boundaries.
pub struct BodyStream {
    inner: chitin_egress::BodyStream,
}

impl HostBodyStream for PluginState {
    async fn next(
        &mut self,
        stream: Resource<BodyStream>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, HttpError>> {
        self.host_call()?;
        let stream = self.table_mut().get_mut(&stream)?;
        Ok(stream
            .inner
            .next_chunk()
            .await
            .map_err(|err| convert_error(&err)))
    }

    async fn drop(&mut self, stream: Resource<BodyStream>) -> wasmtime::Result<()> {
        self.table_mut().delete(stream)?;
        Ok(())
    }
}

fn convert_error(err: &EgressError) -> HttpError {
    match err {
        EgressError::Denied { .. } => HttpError::Denied(err.to_string()),
        EgressError::Timeout(_) => HttpError::Timeout,
        EgressError::TooLarge { limit } => HttpError::TooLarge(*limit),
        EgressError::QuotaExceeded(msg) => HttpError::QuotaExceeded(msg.clone()),
        EgressError::InvalidRequest(msg) => HttpError::InvalidRequest(msg.clone()),
        EgressError::Connection(msg) | EgressError::Config(msg) => {
            HttpError::Connection(msg.clone())
        }
    }
}

/// The checks every request goes through before egress: the per-call request budget, an
/// outbound grant at all, and no raw secret values. Returns the plugin's egress client and the
/// request to send with it.
impl PluginState {
    fn admit_request(
        &mut self,
        req: Request,
    ) -> Result<(chitin_egress::EgressClient, EgressRequest), HttpError> {
        self.call.http_requests += 1;
        let max_requests = self.ctx.grant.budgets.max_http_requests;
        if self.call.http_requests > max_requests {
            return Err(HttpError::QuotaExceeded(format!(
                "plugin `{}` may make at most {max_requests} HTTP requests per call \
                 (budgets.max_http_requests)",
                self.plugin_id()
            )));
        }
        let ctx = self.ctx.clone();
        let Some(egress) = ctx.egress.clone() else {
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
            return Err(HttpError::Denied(detail));
        };
        // A plugin never holds a secret value; one that does (read from a granted file, say)
        // must not send it anywhere: only placeholders are substituted, for their audience.
        let leaked = std::iter::once(req.url.as_bytes())
            .chain(req.headers.iter().map(|(_, v)| v.as_bytes()))
            .chain(req.body.as_deref())
            .find_map(|part| ctx.redactor.contains_secret(part).map(str::to_string));
        if let Some(name) = leaked {
            let detail = format!(
                "the request carries the value of secret {name} itself; plugins may only write \
                 {{{{secret:{name}}}}}, which the host fills in for the secret's audience"
            );
            self.deny("outbound HTTP", detail.clone());
            return Err(HttpError::Denied(detail));
        }
        // A request may not outlive the call that made it.
        let remaining = self.call.deadline.saturating_duration_since(Instant::now());
        let timeout = match req.timeout_ms {
            Some(ms) => Duration::from_millis(ms.into()).min(remaining),
            None => remaining,
        };
        Ok((
            egress,
            EgressRequest {
                method: req.method,
                url: req.url,
                headers: req.headers,
                body: req.body,
                timeout: Some(timeout),
                follow_redirects: req.follow_redirects,
                // The operator's proxy for this call, if any; the plugin cannot choose or see it.
                proxy: self.call.proxy.clone(),
            },
        ))
    }

    fn egress_failed(&mut self, err: &EgressError) -> HttpError {
        if err.is_denied() {
            self.deny("outbound HTTP", err.to_string());
        }
        convert_error(err)
    }
}

impl Host for PluginState {
    async fn fetch_stream(
        &mut self,
        req: Request,
    ) -> wasmtime::Result<Result<(ResponseHead, Resource<BodyStream>), HttpError>> {
        self.host_call()?;
        let (egress, request) = match self.admit_request(req) {
            Ok(admitted) => admitted,
            Err(err) => return Ok(Err(err)),
        };
        match egress.fetch_stream(request).await {
            Ok(response) => {
                let head = ResponseHead {
                    status: response.status,
                    headers: response.headers,
                    final_url: response.final_url,
                };
                let stream = self.table_mut().push(BodyStream {
                    inner: response.body,
                })?;
                Ok(Ok((head, stream)))
            }
            Err(err) => Ok(Err(self.egress_failed(&err))),
        }
    }

    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.host_call()?;
        let (egress, request) = match self.admit_request(req) {
            Ok(admitted) => admitted,
            Err(err) => return Ok(Err(err)),
        };
        let ctx = self.ctx.clone();
        match egress.fetch(request).await {
            // Egress redacted this plugin's own secrets; scrub every other one too.
            Ok(response) => Ok(Ok(Response {
                status: response.status,
                headers: response
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, ctx.redactor.redact(&v).into_owned()))
                    .collect(),
                body: ctx.redactor.redact_bytes(&response.body).into_owned(),
                final_url: ctx.redactor.redact(&response.final_url).into_owned(),
            })),
            Err(err) => Ok(Err(self.egress_failed(&err))),
        }
    }
}
