//! Per-call resource budgets: what the manifest asks for, what the operator overrides, and the
//! language defaults that fill the rest.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ManifestError;
use crate::manifest::Language;

/// Fuel (roughly, wasm instructions) per call that no manifest or grant may exceed.
pub const HARD_MAX_FUEL: u64 = 50_000_000_000;
/// Linear memory per instance, in MiB.
pub const HARD_MAX_MEMORY_MB: u32 = 1024;
/// Wall-clock time per call, in milliseconds (300 s).
pub const HARD_MAX_TIMEOUT_MS: u32 = 300_000;
/// Output returned by one call, in KiB (64 MiB).
pub const HARD_MAX_OUTPUT_KB: u32 = 64 * 1024;
pub const HARD_MAX_HOST_CALLS: u32 = 1_000_000;
pub const HARD_MAX_HTTP_REQUESTS: u32 = 1000;
/// One HTTP response body, in KiB (256 MiB).
pub const HARD_MAX_RESPONSE_KB: u32 = 256 * 1024;

const MIB: u64 = 1024 * 1024;

/// Budgets as written in `plugin.toml` (`[budgets]`) or in a grant (`[plugins.x.grant.budgets]`).
/// `None` means "use the default": the language default for a manifest, the manifest's value for
/// a grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_kb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_host_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_http_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_kb: Option<u32>,
}

/// The limits the sandbox enforces on one call, in the units it works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedBudgets {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub timeout: Duration,
    pub max_output_bytes: u64,
    pub max_host_calls: u32,
    pub max_http_requests: u32,
    pub max_response_bytes: u64,
}

impl Budgets {
    /// Fills unset budgets from `lang`'s defaults and converts to the sandbox's units. A budget of
    /// zero, or one above its hard maximum, is an error naming the field and the limit.
    pub fn resolve(&self, lang: Language) -> Result<ResolvedBudgets, ManifestError> {
        let d = lang.default_budgets();
        let fuel = check("fuel", self.fuel, HARD_MAX_FUEL, "")?.unwrap_or(d.fuel);
        let memory = check_u32("memory_mb", self.memory_mb, HARD_MAX_MEMORY_MB, " MiB")?;
        let timeout = check_u32("timeout_ms", self.timeout_ms, HARD_MAX_TIMEOUT_MS, " ms")?;
        let output = check_u32(
            "max_output_kb",
            self.max_output_kb,
            HARD_MAX_OUTPUT_KB,
            " KiB",
        )?;
        let host_calls = check_u32(
            "max_host_calls",
            self.max_host_calls,
            HARD_MAX_HOST_CALLS,
            "",
        )?;
        let http = check_u32(
            "max_http_requests",
            self.max_http_requests,
            HARD_MAX_HTTP_REQUESTS,
            "",
        )?;
        let response = check_u32(
            "max_response_kb",
            self.max_response_kb,
            HARD_MAX_RESPONSE_KB,
            " KiB",
        )?;
        Ok(ResolvedBudgets {
            fuel,
            memory_bytes: memory.map_or(d.memory_bytes, |mb| u64::from(mb) * MIB),
            timeout: timeout.map_or(d.timeout, |ms| Duration::from_millis(u64::from(ms))),
            max_output_bytes: output.map_or(d.max_output_bytes, |kb| u64::from(kb) * 1024),
            max_host_calls: host_calls.unwrap_or(d.max_host_calls),
            max_http_requests: http.unwrap_or(d.max_http_requests),
            max_response_bytes: response.map_or(d.max_response_bytes, |kb| u64::from(kb) * 1024),
        })
    }

    /// `self` with every budget `over` sets replaced by `over`'s value: how a grant's budgets
    /// override the manifest's.
    pub fn overridden_by(&self, over: &Budgets) -> Budgets {
        Budgets {
            fuel: over.fuel.or(self.fuel),
            memory_mb: over.memory_mb.or(self.memory_mb),
            timeout_ms: over.timeout_ms.or(self.timeout_ms),
            max_output_kb: over.max_output_kb.or(self.max_output_kb),
            max_host_calls: over.max_host_calls.or(self.max_host_calls),
            max_http_requests: over.max_http_requests.or(self.max_http_requests),
            max_response_kb: over.max_response_kb.or(self.max_response_kb),
        }
    }
}

fn check(
    field: &'static str,
    value: Option<u64>,
    max: u64,
    unit: &str,
) -> Result<Option<u64>, ManifestError> {
    match value {
        Some(0) => Err(ManifestError::Budget {
            field,
            value: 0,
            problem: format!(
                "a budget of zero would fail every call; remove budgets.{field} to use the default, \
                 or set a value from 1 to {max}{unit}"
            ),
        }),
        Some(v) if v > max => Err(ManifestError::Budget {
            field,
            value: v,
            problem: format!("the hard maximum is {max}{unit}; lower it to {max} or less"),
        }),
        other => Ok(other),
    }
}

fn check_u32(
    field: &'static str,
    value: Option<u32>,
    max: u32,
    unit: &str,
) -> Result<Option<u32>, ManifestError> {
    // The maxima all fit in u32, so narrowing back cannot lose anything.
    check(field, value.map(u64::from), u64::from(max), unit).map(|_| value)
}

impl Language {
    /// The budgets a plugin in this language gets when neither manifest nor grant says otherwise.
    /// Interpreted languages burn far more fuel per call (a trivial JS call costs ~166 k fuel,
    /// Python ~19 k, Rust ~600) and carry a runtime in memory.
    pub fn default_budgets(&self) -> ResolvedBudgets {
        let (fuel, memory_mb) = match self {
            Language::Rust | Language::C | Language::Other => (100_000_000, 64),
            Language::Python => (400_000_000, 128),
            Language::Js => (2_000_000_000, 128),
        };
        ResolvedBudgets {
            fuel,
            memory_bytes: memory_mb * MIB,
            timeout: Duration::from_millis(10_000),
            max_output_bytes: MIB,
            max_host_calls: 10_000,
            max_http_requests: 32,
            max_response_bytes: 4 * MIB,
        }
    }

    /// Whether the sandbox should keep instances warm between calls: instantiating a Python or
    /// JS component costs ~1 ms, a Rust or C one ~45 µs (cheaper than keeping state around).
    pub fn prefers_warm_instances(&self) -> bool {
        matches!(self, Language::Python | Language::Js)
    }
}
