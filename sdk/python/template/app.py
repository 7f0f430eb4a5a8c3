"""{{name}}: a Chitin tool plugin in Python."""

import chitin_sdk as chitin


@chitin.tool(
    "hello",
    "Greets someone by name.",
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who to greet."},
            "excited": {"type": "boolean", "description": "End with an exclamation mark."},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
)
def hello(args, ctx):
    name = args["name"].strip()
    if not name:
        raise chitin.InvalidArguments("`name` is blank; give the name of who to greet")
    chitin.log.debug(f"{ctx.call_id}: greeting {name}")
    return f"Hello, {name}{'!' if args.get('excited') else '.'}"


# The export componentize-py looks for: lists and dispatches the tools declared above.
Tool = chitin.Tool
