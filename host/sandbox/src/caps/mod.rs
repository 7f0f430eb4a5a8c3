//! One module per capability, each implementing one host interface of `wit/host.wit` on
//! [`PluginState`](crate::state::PluginState). Each checks the plugin's grant on every call and
//! has a test proving the denial (tests/all/capabilities.rs).

pub mod budget;
pub mod config;
pub mod http;
pub mod kv;
pub mod log;
pub mod provider_sink;
pub mod secrets;
pub mod websocket;
