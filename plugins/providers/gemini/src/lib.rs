//! Google Gemini generateContent API, streamed as server-sent events.
//!
//! The protocol (request body, stream decoding, error classification) is in
//! `chitin-provider-wire`; this crate only runs it through the host.

#[path = "../../shared/guest.rs"]
mod guest;

use chitin_provider_wire::gemini as wire;
use chitin_sdk::provider::{Completion, ModelInfo, Provider, ProviderError, Request};

struct Gemini;

impl Provider for Gemini {
    /// The models come from the operator's configuration, not from the plugin.
    fn models() -> Vec<ModelInfo> {
        Vec::new()
    }

    fn complete(req: Request) -> Result<Completion, ProviderError> {
        guest::complete(req, wire::build_request, wire::Decoder::new())
    }
}

chitin_sdk::export_provider!(Gemini);
