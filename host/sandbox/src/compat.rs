//! Running plugins built against an older `chitin:plugin` version.
//!
//! Each supported version has its own bindings ([`crate::bindings`]) and its own linkers, chosen
//! by the manifest's `wit_version`. The capabilities are implemented once, for the current
//! version (`crate::caps`); an older version's host traits delegate to them, converting the
//! (identical) records on the way. Its exports are wrapped so that the rest of the sandbox sees
//! one API: [`ToolPre`] and [`ToolInstance`] look like the generated current-version types
//! (`instantiate_async`, `chitin_plugin_tool().call_describe(..)`) and return current-version
//! records whatever version the component speaks.
//!
//! Supporting a new version: generate its bindings, add a [`WitVersion`] variant and a variant
//! to each wrapper, and implement the version that stops being current on top of the new one.

use std::collections::BTreeSet;

use chitin_manifest::WIT_PACKAGE;
use wasmtime::component::{Component, Resource};
use wasmtime::{Engine, Store};

use crate::bindings::{self, v0_1};
use crate::caps::http::BodyStream;
use crate::state::PluginState;

/// A `chitin:plugin` version this host links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WitVersion {
    V0_1,
    V0_2,
}

impl WitVersion {
    /// The version a manifest names, if this host links it (`check_wit_version` has already
    /// refused the others with its explanation).
    pub(crate) fn parse(version: &str) -> Option<WitVersion> {
        match version {
            "0.1.0" => Some(WitVersion::V0_1),
            "0.2.0" => Some(WitVersion::V0_2),
            _ => None,
        }
    }
}

/// The `chitin:plugin` versions a component's imports and exports name, with one name of each
/// (`chitin:plugin/log@0.1.0` → `0.1.0`), so a component packed with the wrong `wit_version`
/// can be refused with a message that says what it really is.
pub(crate) fn component_wit_versions(
    engine: &Engine,
    component: &Component,
) -> Vec<(String, String)> {
    let ty = component.component_type();
    let prefix = format!("{WIT_PACKAGE}/");
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    for name in names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let version = rest.split_once('@').map_or("", |(_, v)| v).to_string();
        if seen.insert(version.clone()) {
            found.push((version, name.to_string()));
        }
    }
    found
}

/// Converts between the records of two versions of the same interface (they have the same
/// shape: a version keeps every record of the previous one as it was).
trait Convert<T> {
    fn convert(self) -> T;
}

macro_rules! identity {
    ($($ty:ty),*) => { $(impl Convert<$ty> for $ty { fn convert(self) -> $ty { self } })* };
}
identity!(String, bool, u8, u16, u32, u64, f32, (String, String));

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

/// `From` record `To`: every field converted.
macro_rules! record {
    ($from:ty => $to:ident { $($field:ident),* $(,)? }) => {
        impl Convert<$to> for $from {
            fn convert(self) -> $to {
                $to { $($field: self.$field.convert()),* }
            }
        }
    };
}

/// Enums and variants: the same cases, each case's payload converted.
macro_rules! cases {
    ($from:ident => $to:ident { $($case:ident $(($($payload:ident),*))?),* $(,)? }) => {
        impl Convert<$to> for $from {
            fn convert(self) -> $to {
                match self {
                    $($from::$case $(($($payload),*))? => $to::$case $(($($payload.convert()),*))?,)*
                }
            }
        }
    };
}

// ---- chitin:plugin@0.1.0 host interfaces, on top of the current ones --------------------------

mod v0_1_host {
    use super::*;
    use crate::bindings::host::chitin::plugin as cur;
    use crate::bindings::v0_1::host::chitin::plugin as old;

    use cur::http::{
        HttpError as CurHttpError, Request as CurRequest, Response as CurResponse,
        ResponseHead as CurResponseHead,
    };
    use cur::kv::KvError as CurKvError;
    use cur::log::Level as CurLevel;
    use cur::provider_sink::{StreamEvent as CurStreamEvent, ToolCallDelta as CurToolCallDelta};
    use old::http::{
        HttpError as OldHttpError, Request as OldRequest, Response as OldResponse,
        ResponseHead as OldResponseHead,
    };
    use old::kv::KvError as OldKvError;
    use old::log::Level as OldLevel;
    use old::provider_sink::{StreamEvent as OldStreamEvent, ToolCallDelta as OldToolCallDelta};

    cases!(OldLevel => CurLevel { Trace, Debug, Info, Warn, Error });
    cases!(CurKvError => OldKvError {
        Denied(m), QuotaExceeded(m), TooLarge(m), Other(m)
    });
    record!(OldRequest => CurRequest {
        method, url, headers, body, timeout_ms, follow_redirects
    });
    record!(CurResponse => OldResponse { status, headers, body, final_url });
    record!(CurResponseHead => OldResponseHead { status, headers, final_url });
    cases!(CurHttpError => OldHttpError {
        Denied(m), Timeout, TooLarge(n), QuotaExceeded(m), InvalidRequest(m), Connection(m)
    });
    record!(OldToolCallDelta => CurToolCallDelta { index, id, name, arguments_fragment });
    cases!(OldStreamEvent => CurStreamEvent {
        TextDelta(t), ThinkingDelta(t), ToolCallDelta(d)
    });

    impl old::log::Host for PluginState {
        async fn log(&mut self, level: OldLevel, message: String) -> wasmtime::Result<()> {
            cur::log::Host::log(self, level.convert(), message).await
        }
    }

    impl old::config::Host for PluginState {
        async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
            cur::config::Host::get(self, key).await
        }

        async fn list_keys(&mut self) -> wasmtime::Result<Vec<String>> {
            cur::config::Host::list_keys(self).await
        }
    }

    impl old::secrets::Host for PluginState {
        async fn exists(&mut self, name: String) -> wasmtime::Result<bool> {
            cur::secrets::Host::exists(self, name).await
        }
    }

    impl old::kv::Host for PluginState {
        async fn get(
            &mut self,
            key: String,
        ) -> wasmtime::Result<Result<Option<Vec<u8>>, OldKvError>> {
            Ok(cur::kv::Host::get(self, key)
                .await?
                .map_err(Convert::convert))
        }

        async fn set(
            &mut self,
            key: String,
            value: Vec<u8>,
        ) -> wasmtime::Result<Result<(), OldKvError>> {
            Ok(cur::kv::Host::set(self, key, value)
                .await?
                .map_err(Convert::convert))
        }

        async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, OldKvError>> {
            Ok(cur::kv::Host::delete(self, key)
                .await?
                .map_err(Convert::convert))
        }

        async fn list_keys(
            &mut self,
            prefix: String,
            limit: u32,
        ) -> wasmtime::Result<Result<Vec<String>, OldKvError>> {
            Ok(cur::kv::Host::list_keys(self, prefix, limit)
                .await?
                .map_err(Convert::convert))
        }
    }

    impl old::http::HostBodyStream for PluginState {
        async fn next(
            &mut self,
            stream: Resource<BodyStream>,
        ) -> wasmtime::Result<Result<Option<Vec<u8>>, OldHttpError>> {
            Ok(cur::http::HostBodyStream::next(self, stream)
                .await?
                .map_err(Convert::convert))
        }

        async fn drop(&mut self, stream: Resource<BodyStream>) -> wasmtime::Result<()> {
            cur::http::HostBodyStream::drop(self, stream).await
        }
    }

    impl old::http::Host for PluginState {
        async fn fetch(
            &mut self,
            req: OldRequest,
        ) -> wasmtime::Result<Result<OldResponse, OldHttpError>> {
            Ok(cur::http::Host::fetch(self, req.convert())
                .await?
                .map(Convert::convert)
                .map_err(Convert::convert))
        }

        async fn fetch_stream(
            &mut self,
            req: OldRequest,
        ) -> wasmtime::Result<Result<(OldResponseHead, Resource<BodyStream>), OldHttpError>>
        {
            Ok(cur::http::Host::fetch_stream(self, req.convert())
                .await?
                .map(|(head, body)| (head.convert(), body))
                .map_err(Convert::convert))
        }
    }

    impl old::provider_sink::Host for PluginState {
        async fn emit(&mut self, event: OldStreamEvent) -> wasmtime::Result<()> {
            cur::provider_sink::Host::emit(self, event.convert()).await
        }
    }

    impl old::websocket::Host for PluginState {
        async fn send_text(
            &mut self,
            connection: u64,
            text: String,
        ) -> wasmtime::Result<Result<(), String>> {
            cur::websocket::Host::send_text(self, connection, text).await
        }

        async fn close(
            &mut self,
            connection: u64,
            code: u16,
            reason: String,
        ) -> wasmtime::Result<Result<(), String>> {
            cur::websocket::Host::close(self, connection, code, reason).await
        }
    }
}

// ---- Exports: one API over every version --------------------------------------------------------

use bindings::provider::exports::chitin::plugin::provider as cur_provider;
use bindings::tool::exports::chitin::plugin::tool as cur_tool;
use v0_1::provider::exports::chitin::plugin::provider as old_provider;
use v0_1::tool::exports::chitin::plugin::tool as old_tool;

mod v0_1_exports {
    use super::*;

    use cur_provider::{
        Completion as CurCompletion, FinishReason as CurFinishReason, Message as CurMessage,
        ModelInfo as CurModelInfo, ProviderError as CurProviderError, Request as CurRequest,
        Role as CurRole, ToolCall as CurToolCall, ToolDefinition as CurToolDefinition,
        Usage as CurUsage,
    };
    use cur_tool::{
        CallContext as CurCallContext, ToolError as CurToolError, ToolOutput as CurToolOutput,
        ToolSpec as CurToolSpec,
    };
    use old_provider::{
        Completion as OldCompletion, FinishReason as OldFinishReason, Message as OldMessage,
        ModelInfo as OldModelInfo, ProviderError as OldProviderError, Request as OldRequest,
        Role as OldRole, ToolCall as OldToolCall, ToolDefinition as OldToolDefinition,
        Usage as OldUsage,
    };
    use old_tool::{
        CallContext as OldCallContext, ToolError as OldToolError, ToolOutput as OldToolOutput,
        ToolSpec as OldToolSpec,
    };

    record!(OldToolSpec => CurToolSpec { name, description, parameters_schema });
    record!(CurCallContext => OldCallContext { call_id, agent_id, session_key });
    record!(OldToolOutput => CurToolOutput { content, content_type });
    cases!(OldToolError => CurToolError { InvalidArguments(m), UnknownTool(m), Failed(m) });

    record!(OldModelInfo => CurModelInfo {
        id, context_window, max_output_tokens, supports_tools, supports_images
    });
    cases!(CurRole => OldRole { System, User, Assistant, Tool });
    record!(CurToolCall => OldToolCall { id, name, arguments });
    record!(OldToolCall => CurToolCall { id, name, arguments });
    record!(CurMessage => OldMessage { role, content, tool_calls, tool_call_id, provider_data });
    record!(CurToolDefinition => OldToolDefinition { name, description, parameters_schema });
    record!(CurRequest => OldRequest {
        model, messages, tools, max_tokens, temperature, base_url, options
    });
    cases!(OldFinishReason => CurFinishReason { Stop, Length, ToolCalls, ContentFilter, Other });
    record!(OldUsage => CurUsage {
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens
    });
    record!(OldCompletion => CurCompletion {
        text, tool_calls, finish_reason, usage, provider_data
    });
    cases!(OldProviderError => CurProviderError {
        RateLimited(ms), Overloaded(ms), Auth(m), ContextOverflow(m), BadRequest(m), Transient(m)
    });
}

/// Defines a world's version-dispatching `Pre` and instance types.
macro_rules! world_wrapper {
    ($(#[$attr:meta])* $pre:ident, $instance:ident, $module:ident, $pre_ty:ident, $instance_ty:ident) => {
        /// The pre-linked component, of whichever version it was built against.
        pub(crate) enum $pre {
            V0_2(bindings::$module::$pre_ty<PluginState>),
            V0_1(v0_1::$module::$pre_ty<PluginState>),
        }

        /// An instance, of whichever version its component was built against.
        $(#[$attr])*
        pub(crate) enum $instance {
            V0_2(bindings::$module::$instance_ty),
            V0_1(v0_1::$module::$instance_ty),
        }

        impl $pre {
            pub(crate) fn new(
                version: WitVersion,
                pre: wasmtime::component::InstancePre<PluginState>,
            ) -> wasmtime::Result<$pre> {
                Ok(match version {
                    WitVersion::V0_2 => $pre::V0_2(bindings::$module::$pre_ty::new(pre)?),
                    WitVersion::V0_1 => $pre::V0_1(v0_1::$module::$pre_ty::new(pre)?),
                })
            }

            pub(crate) async fn instantiate_async(
                &self,
                store: &mut Store<PluginState>,
            ) -> wasmtime::Result<$instance> {
                Ok(match self {
                    $pre::V0_2(pre) => $instance::V0_2(pre.instantiate_async(store).await?),
                    $pre::V0_1(pre) => $instance::V0_1(pre.instantiate_async(store).await?),
                })
            }
        }
    };
}

world_wrapper!(ToolPre, ToolInstance, tool, ToolPluginPre, ToolPlugin);
world_wrapper!(
    ProviderPre,
    ProviderInstance,
    provider,
    ProviderPluginPre,
    ProviderPlugin
);
world_wrapper!(
    // Channel instances are created so that loading validates every plugin kind; their call
    // path arrives with the channel work.
    #[allow(dead_code)]
    ChannelPre,
    ChannelInstance,
    channel,
    ChannelPluginPre,
    ChannelPlugin
);
world_wrapper!(
    McpBridgePre,
    McpBridgeInstance,
    mcp_bridge,
    McpBridgePluginPre,
    McpBridgePlugin
);

impl ToolInstance {
    /// The `tool` export (the generated types' accessor, kept so call sites read the same).
    pub(crate) fn chitin_plugin_tool(&self) -> &Self {
        self
    }

    pub(crate) async fn call_describe(
        &self,
        store: &mut Store<PluginState>,
    ) -> wasmtime::Result<Vec<cur_tool::ToolSpec>> {
        match self {
            ToolInstance::V0_2(i) => i.chitin_plugin_tool().call_describe(store).await,
            ToolInstance::V0_1(i) => {
                Ok(i.chitin_plugin_tool().call_describe(store).await?.convert())
            }
        }
    }

    pub(crate) async fn call_call(
        &self,
        store: &mut Store<PluginState>,
        name: &str,
        arguments: &str,
        context: &cur_tool::CallContext,
    ) -> wasmtime::Result<Result<cur_tool::ToolOutput, cur_tool::ToolError>> {
        match self {
            ToolInstance::V0_2(i) => {
                i.chitin_plugin_tool()
                    .call_call(store, name, arguments, context)
                    .await
            }
            ToolInstance::V0_1(i) => {
                let context = context.clone().convert();
                Ok(i.chitin_plugin_tool()
                    .call_call(store, name, arguments, &context)
                    .await?
                    .map(Convert::convert)
                    .map_err(Convert::convert))
            }
        }
    }
}

impl ProviderInstance {
    /// The `provider` export.
    pub(crate) fn chitin_plugin_provider(&self) -> &Self {
        self
    }

    pub(crate) async fn call_models(
        &self,
        store: &mut Store<PluginState>,
    ) -> wasmtime::Result<Vec<cur_provider::ModelInfo>> {
        match self {
            ProviderInstance::V0_2(i) => i.chitin_plugin_provider().call_models(store).await,
            ProviderInstance::V0_1(i) => Ok(i
                .chitin_plugin_provider()
                .call_models(store)
                .await?
                .convert()),
        }
    }

    pub(crate) async fn call_complete(
        &self,
        store: &mut Store<PluginState>,
        request: &cur_provider::Request,
    ) -> wasmtime::Result<Result<cur_provider::Completion, cur_provider::ProviderError>> {
        match self {
            ProviderInstance::V0_2(i) => {
                i.chitin_plugin_provider()
                    .call_complete(store, request)
                    .await
            }
            ProviderInstance::V0_1(i) => {
                let request: old_provider::Request = request.clone().convert();
                Ok(i.chitin_plugin_provider()
                    .call_complete(store, &request)
                    .await?
                    .map(Convert::convert)
                    .map_err(Convert::convert))
            }
        }
    }
}

impl McpBridgeInstance {
    /// The `mcp-server` export.
    pub(crate) fn chitin_plugin_mcp_server(&self) -> &Self {
        self
    }

    pub(crate) async fn call_handle(
        &self,
        store: &mut Store<PluginState>,
        message: &str,
    ) -> wasmtime::Result<Result<Option<String>, String>> {
        match self {
            McpBridgeInstance::V0_2(i) => {
                i.chitin_plugin_mcp_server()
                    .call_handle(store, message)
                    .await
            }
            McpBridgeInstance::V0_1(i) => {
                i.chitin_plugin_mcp_server()
                    .call_handle(store, message)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The record conversions of the 0.1.0 provider and provider-sink paths (the tool path runs
    //! end to end in tests/all/wit_compat.rs).

    use super::*;
    use crate::bindings::host::chitin::plugin::provider_sink as cur_sink;
    use crate::bindings::v0_1::host::chitin::plugin::provider_sink as old_sink;

    #[test]
    fn provider_records_convert_field_by_field() {
        let request = cur_provider::Request {
            model: "m".into(),
            messages: vec![cur_provider::Message {
                role: cur_provider::Role::Assistant,
                content: "c".into(),
                tool_calls: vec![cur_provider::ToolCall {
                    id: "1".into(),
                    name: "n".into(),
                    arguments: "{}".into(),
                }],
                tool_call_id: Some("t".into()),
                provider_data: None,
            }],
            tools: vec![cur_provider::ToolDefinition {
                name: "n".into(),
                description: "d".into(),
                parameters_schema: "{}".into(),
            }],
            max_tokens: Some(7),
            temperature: Some(0.5),
            base_url: "http://x".into(),
            options: "{}".into(),
        };
        let old: old_provider::Request = request.convert();
        assert_eq!(old.model, "m");
        assert!(matches!(
            old.messages[0].role,
            old_provider::Role::Assistant
        ));
        assert_eq!(old.messages[0].tool_calls[0].arguments, "{}");
        assert_eq!(old.messages[0].tool_call_id.as_deref(), Some("t"));
        assert_eq!(old.tools[0].description, "d");
        assert_eq!((old.max_tokens, old.temperature), (Some(7), Some(0.5)));
        assert_eq!(
            (old.base_url.as_str(), old.options.as_str()),
            ("http://x", "{}")
        );

        let completion = old_provider::Completion {
            text: "hi".into(),
            tool_calls: vec![old_provider::ToolCall {
                id: "1".into(),
                name: "n".into(),
                arguments: "{\"a\":1}".into(),
            }],
            finish_reason: old_provider::FinishReason::ToolCalls,
            usage: Some(old_provider::Usage {
                input_tokens: 1,
                output_tokens: 2,
                cache_read_tokens: 3,
                cache_write_tokens: 4,
            }),
            provider_data: Some("p".into()),
        };
        let cur: cur_provider::Completion = completion.convert();
        assert_eq!(cur.text, "hi");
        assert_eq!(cur.tool_calls[0].arguments, "{\"a\":1}");
        assert!(matches!(
            cur.finish_reason,
            cur_provider::FinishReason::ToolCalls
        ));
        let usage = cur.usage.unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(cur.provider_data.as_deref(), Some("p"));

        let err: cur_provider::ProviderError =
            old_provider::ProviderError::RateLimited(Some(250)).convert();
        assert!(matches!(
            err,
            cur_provider::ProviderError::RateLimited(Some(250))
        ));
        let err: cur_provider::ProviderError =
            old_provider::ProviderError::ContextOverflow("long".into()).convert();
        assert!(matches!(err, cur_provider::ProviderError::ContextOverflow(m) if m == "long"));
    }

    #[test]
    fn stream_events_convert() {
        let event: cur_sink::StreamEvent =
            old_sink::StreamEvent::ToolCallDelta(old_sink::ToolCallDelta {
                index: 2,
                id: Some("c".into()),
                name: None,
                arguments_fragment: "{\"x".into(),
            })
            .convert();
        match event {
            cur_sink::StreamEvent::ToolCallDelta(d) => {
                assert_eq!(d.index, 2);
                assert_eq!(d.id.as_deref(), Some("c"));
                assert_eq!(d.arguments_fragment, "{\"x");
            }
            other => panic!("{other:?}"),
        }
        let event: cur_sink::StreamEvent = old_sink::StreamEvent::TextDelta("t".into()).convert();
        assert!(matches!(event, cur_sink::StreamEvent::TextDelta(t) if t == "t"));
    }
}
