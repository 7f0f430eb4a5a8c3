//! `echo`: repeats its input. The smallest useful tool, and the well-behaved plugin the sandbox
//! tests call while hostile ones are being stopped.

use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

struct Echo;

#[derive(serde::Deserialize)]
struct Args {
    text: String,
}

impl Tool for Echo {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "echo",
            "Returns the given text unchanged.",
            serde_json::json!({
                "type": "object",
                "properties": { "text": { "type": "string", "description": "Text to return" } },
                "required": ["text"]
            }),
        )]
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        if name != "echo" {
            return Err(ToolError::UnknownTool(name));
        }
        let args: Args = chitin_sdk::parse_arguments(&arguments)?;
        Ok(ToolOutput::text(args.text))
    }
}

chitin_sdk::export_tool!(Echo);
