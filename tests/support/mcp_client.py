"""Drives `chitin mcp serve` (stdio) or the gateway's /mcp (Streamable HTTP) with the
unmodified MCP client from PyPI (`mcp`), and prints what it saw as JSON.

usage: mcp_client.py stdio <chitin binary> <CHITIN_HOME>
       mcp_client.py http <http://host:port/mcp> <token>
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def exercise(session: ClientSession) -> dict:
    init = await session.initialize()
    tools = await session.list_tools()
    out = {
        "server": init.server_info.name,
        "protocol": init.protocol_version,
        "tools": sorted(t.name for t in tools.tools),
        "schemas": {t.name: t.input_schema for t in tools.tools},
    }
    echo = await session.call_tool("echo", {"text": "through MCP"})
    out["echo"] = {"is_error": echo.is_error, "text": [c.text for c in echo.content]}
    bad = await session.call_tool("echo", {"wrong": 1})
    out["bad_args"] = {"is_error": bad.is_error, "text": [c.text for c in bad.content]}
    if "hostile" in out["tools"] or "spin" in out["tools"]:
        spin = await session.call_tool("spin", {})
        out["spin"] = {"is_error": spin.is_error, "text": [c.text for c in spin.content]}
    try:
        await session.call_tool("no_such_tool", {})
        out["unknown"] = "no error"
    except Exception as err:  # the SDK raises on a JSON-RPC error
        out["unknown"] = str(err)
    return out


async def main() -> None:
    mode = sys.argv[1]
    if mode == "stdio":
        params = StdioServerParameters(
            command=sys.argv[2],
            args=["mcp", "serve"],
            env={
                "CHITIN_HOME": sys.argv[3],
                "PATH": os.environ.get("PATH", ""),
                # The config refers to it; the stdio server itself needs no token.
                "CHITIN_GATEWAY_TOKEN": os.environ.get("CHITIN_GATEWAY_TOKEN", ""),
            },
        )
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                result = await exercise(session)
    else:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {sys.argv[3]}"})
        async with client:
            async with streamable_http_client(sys.argv[2], http_client=client) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    result = await exercise(session)
    print(json.dumps(result))


asyncio.run(main())
