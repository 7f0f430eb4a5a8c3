//! {{name}}: a Chitin tool plugin.

use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

struct Plugin;

/// The tool's arguments, as the JSON schema in `describe` says.
#[derive(serde::Deserialize)]
struct Args {
    name: String,
}

impl Tool for Plugin {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "{{id_snake}}",
            "Greets someone by name.",
            serde_json::json!({
                "type": "object",
                "properties": { "name": { "type": "string", "description": "Who to greet" } },
                "required": ["name"]
            }),
        )]
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        if name != "{{id_snake}}" {
            return Err(ToolError::UnknownTool(name));
        }
        let args: Args = chitin_sdk::parse_arguments(&arguments)?;
        Ok(ToolOutput::text(format!("Hello, {}!", args.name)))
    }
}

chitin_sdk::export_tool!(Plugin);
