//! A small MCP server compiled to WebAssembly: Chitin runs it under the sandbox and its tools
//! reach the agents like any other (namespaced `mcp__calc__<tool>`). Arithmetic on integers is
//! exact (i128) and overflow is an error, because a model asking a tool wants the right answer.

use chitin_sdk::mcp::{McpServer, McpTool, ToolResult, ToolServer};
use serde_json::{Value, json};

struct Calc;

fn operands(arguments: &Value) -> Result<(i128, i128), String> {
    let read = |name: &str| -> Result<i128, String> {
        match &arguments[name] {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .ok_or_else(|| format!("`{name}` must be an integer")),
            Value::String(s) => s
                .trim()
                .parse::<i128>()
                .map_err(|_| format!("`{name}` must be an integer (got \"{s}\")")),
            _ => Err(format!("`{name}` is required (an integer)")),
        }
    };
    Ok((read("a")?, read("b")?))
}

fn call(name: &str, arguments: &Value) -> ToolResult {
    let (a, b) = operands(arguments)?;
    let result = match name {
        "add" => a.checked_add(b),
        "multiply" => a.checked_mul(b),
        "divide" => {
            if b == 0 {
                return Err("division by zero".into());
            }
            if a % b != 0 {
                return Ok(format!("{} remainder {}", a / b, a % b));
            }
            a.checked_div(b)
        }
        other => return Err(format!("unknown tool {other}")),
    };
    result
        .map(|n| n.to_string())
        .ok_or_else(|| "the result does not fit in 128 bits".into())
}

fn schema(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": {
            "a": {"type": ["integer", "string"], "description": "first operand"},
            "b": {"type": ["integer", "string"], "description": "second operand"},
        },
        "required": ["a", "b"],
    })
}

impl McpServer for Calc {
    fn handle(message: String) -> Result<Option<String>, String> {
        let tools = [
            McpTool {
                name: "add",
                description: "Add two integers exactly.",
                input_schema: schema("a + b"),
            },
            McpTool {
                name: "multiply",
                description: "Multiply two integers exactly.",
                input_schema: schema("a * b"),
            },
            McpTool {
                name: "divide",
                description: "Divide two integers: the quotient, and the remainder if any.",
                input_schema: schema("a / b"),
            },
        ];
        ToolServer {
            name: "calc",
            version: env!("CARGO_PKG_VERSION"),
            tools: &tools,
            call: &call,
        }
        .handle(&message)
    }
}

chitin_sdk::export_mcp_server!(Calc);
