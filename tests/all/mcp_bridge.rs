//! MCP-bridge components: an MCP server compiled to wasm (plugins/mcp/calc) answers JSON-RPC
//! through the sandbox, one message per call, under its budgets and with no capabilities.

use chitin_manifest::Grant;
use serde_json::{Value, json};

use crate::common::TestHost;

async fn rpc(plugin: &chitin_sandbox::Plugin, message: Value) -> Value {
    let response = plugin
        .mcp_handle(&message.to_string())
        .await
        .unwrap()
        .expect("a request gets a response");
    serde_json::from_str(&response).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_mcp_server_speaks_json_rpc_through_the_sandbox() {
    let host = TestHost::new();
    let calc = host.load("calc", &Grant::default());

    let init = rpc(
        &calc,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}}),
    )
    .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["serverInfo"]["name"], "calc");
    // Notifications get no response.
    assert_eq!(
        calc.mcp_handle(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await
            .unwrap(),
        None
    );

    let list = rpc(
        &calc,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["add", "multiply", "divide"]);

    let call = |id: u32, name: &str, a: Value, b: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": {"a": a, "b": b}}})
    };
    let sum = rpc(&calc, call(3, "add", json!(2), json!(3))).await;
    assert_eq!(sum["result"]["content"][0]["text"], "5");
    let big = rpc(
        &calc,
        call(4, "multiply", json!("9223372036854775807"), json!(4)),
    )
    .await;
    assert_eq!(big["result"]["content"][0]["text"], "36893488147419103228");
    // A tool's own failure is a result with isError, which the model sees.
    let zero = rpc(&calc, call(5, "divide", json!(1), json!(0))).await;
    assert_eq!(zero["result"]["isError"], true);
    assert_eq!(zero["result"]["content"][0]["text"], "division by zero");
    // Protocol errors are JSON-RPC errors.
    let unknown = rpc(&calc, call(6, "sqrt", json!(1), json!(1))).await;
    assert_eq!(unknown["error"]["code"], -32602);
    let missing = rpc(
        &calc,
        json!({"jsonrpc": "2.0", "id": 7, "method": "resources/list"}),
    )
    .await;
    assert_eq!(missing["error"]["code"], -32601);
    let garbage = calc.mcp_handle("{not json").await.unwrap().unwrap();
    assert!(garbage.contains("-32700"), "{garbage}");

    // It is a bridge, not a tool: calling it as one is refused with the reason.
    let err = calc.describe_tools().await.unwrap_err();
    assert_eq!(err.code(), "wrong_kind", "{err}");
}
