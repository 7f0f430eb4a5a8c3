//! Chitin's integration tests: one binary (wasmtime's `tests/all` layout), so the sandbox's
//! engine and the guest artifacts are set up once per process rather than once per file.
//!
//! The guest plugins are built and packed by `./dev build-plugins` into `target/plugins/`.

mod agent_cli;
mod agent_providers;
mod capabilities;
mod cli;
mod common;
#[path = "../fakes/mod.rs"]
mod fakes;
mod gateway;
mod install;
mod limits;
mod loading;
mod local_model;
mod mcp_agent;
mod mcp_bridge;
mod mcp_serve;
mod origin_gate;
mod protocol_schema;
mod providers;
mod sdk_c;
mod sdk_python_js;
mod tools;
mod webui;
mod wit_compat;
mod ws;
