//! Chitin's integration tests: one binary (wasmtime's `tests/all` layout), so the sandbox's
//! engine and the guest artifacts are set up once per process rather than once per file.
//!
//! The guest plugins are built and packed by `./dev build-plugins` into `target/plugins/`.

mod capabilities;
mod cli;
mod common;
mod limits;
mod loading;
