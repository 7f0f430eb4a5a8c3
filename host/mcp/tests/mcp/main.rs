//! host/mcp against real MCP servers: server-everything and server-filesystem from npm
//! (legacy 2025-11-25 servers) over stdio and Streamable HTTP, and a Python server written with
//! the PyPI `mcp` package (a 2026-07-28 server that also speaks the legacy handshake).

mod everything;
mod filesystem;
mod http;
mod python;
mod support;
