"""A small MCP server written with the PyPI `mcp` package (2.x: `MCPServer`, the renamed
FastMCP), for host/mcp's tests. It speaks both protocol eras (2026-07-28 and the `initialize`
handshake) and lists its tools two per page.

Run: `python py_server.py` (stdio), or `python py_server.py --http PORT` (Streamable HTTP on
127.0.0.1:PORT/mcp). tests/support/python-venv.sh installs `mcp`.
"""

import os
import sys

import anyio
from mcp.server.mcpserver import Audio, Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ListToolsResult

PAGE_SIZE = 2

# Tags of `slow` calls that were cancelled by the client, in order.
CANCELLED: list[str] = []


class PagedServer(MCPServer):
    """Lists tools PAGE_SIZE at a time, so that clients must follow `nextCursor`."""

    async def _handle_list_tools(self, ctx, params):
        tools = await self.list_tools()
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE_SIZE
        return ListToolsResult(tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None)


mcp = PagedServer("chitin-py-test", version="1.0.0")


@mcp.tool()
def echo(text: str) -> str:
    """Returns the text unchanged."""
    return text


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool()
def env_info(name: str) -> dict:
    """Whether the environment variable `name` is set, and the length of its value (never the value)."""
    value = os.environ.get(name)
    return {"set": value is not None, "length": len(value) if value is not None else 0}


@mcp.tool()
def structured_only() -> CallToolResult:
    """Structured content and no text blocks."""
    return CallToolResult(content=[], structured_content={"temperature": 21.5, "unit": "C"})


@mcp.tool()
def beep() -> Audio:
    """A (tiny, fake) WAV clip."""
    return Audio(data=b"RIFF" + bytes(40), format="wav")


@mcp.tool()
def fail(message: str) -> str:
    """Fails as a tool (isError: true) with the message."""
    raise ToolError(message)


@mcp.tool()
def protocol_error() -> str:
    """Answers with a JSON-RPC error instead of a result."""
    raise MCPError(-32602, "protocol_error always refuses")


@mcp.tool()
async def slow(seconds: float, tag: str) -> str:
    """Sleeps; a cancelled call records its tag (see `cancelled`)."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        CANCELLED.append(tag)
        raise
    return f"slept {seconds} s"


@mcp.tool()
def cancelled() -> list[str]:
    """Tags of the `slow` calls the client cancelled."""
    return CANCELLED


@mcp.tool()
def big(size: int) -> str:
    """`size` bytes of text."""
    return "y" * size


@mcp.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()


@mcp.tool()
def crash(code: int) -> str:
    """Exits the process at once with `code` (no answer)."""
    sys.stderr.write(f"py_server crashing on purpose with code {code}\n")
    sys.stderr.flush()
    os._exit(code)


@mcp.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Registers a new tool `name` (returning "hello from NAME") and announces the change."""

    def extra() -> str:
        return f"hello from {name}"

    mcp.add_tool(extra, name=name, description=f"Added at run time: {name}")
    await ctx.notify_tools_changed()
    if ctx.protocol_version != "2026-07-28":
        await ctx.session.send_tool_list_changed()
    return f"added {name}"


@mcp.tool()
def request_header(name: str, ctx: Context) -> str:
    """The value of the HTTP request header `name` as the server received it (HTTP only)."""
    headers = ctx.headers or {}
    return headers.get(name.lower(), "(not sent)")


@mcp.tool(name="dotted.name")
def dotted() -> str:
    """A name with a dot, legal in MCP but not for model APIs."""
    return "dotted"


@mcp.tool(name="dotted_name")
def underscored() -> str:
    """Collides with `dotted.name` once that is sanitized."""
    return "underscored"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()
