"""Write Chitin tool plugins in Python.

A plugin is a module (``app.py``) that declares its tools with :func:`tool` and exports them by
binding the name ``Tool`` (the export componentize-py looks for)::

    import chitin_sdk as chitin

    @chitin.tool(
        "shout",
        "Upper-cases text.",
        {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    )
    def shout(args, ctx):
        return args["text"].upper()

    Tool = chitin.Tool

The arguments arrive parsed and checked against the tool's JSON Schema (required keys, types,
enums), so a model's mistake comes back as an ``invalid-arguments`` error it can act on. A handler
returns a ``str`` (text/plain), a ``dict`` or ``list`` (application/json) or a :class:`ToolOutput`;
it fails with :class:`InvalidArguments` or :class:`ToolFailed`. Any other exception becomes a
``failed`` error naming it (and its traceback goes to the host log) instead of crashing the call.

Host capabilities, each refused unless the operator granted it: :data:`log`, :data:`http`
(outbound requests through the host's egress policy), :data:`kv`, :data:`config`,
:data:`secrets` and :func:`secret_placeholder` (the host inserts a secret's value at the network
edge; the plugin never sees it).

Outside the sandbox (plain ``python3``, for unit tests) the tool machinery works the same; host
calls raise :class:`HostUnavailable`, except ``log``, which writes to stderr, and
``config.get``, which returns its default.
"""

from __future__ import annotations

import json as _json
import re as _re
import sys as _sys
import traceback as _traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__all__ = [
    "CallContext",
    "HostUnavailable",
    "HttpError",
    "InvalidArguments",
    "KvError",
    "Response",
    "Tool",
    "ToolFailed",
    "ToolOutput",
    "ToolSpec",
    "UnknownTool",
    "budget",
    "call_tool",
    "config",
    "http",
    "json_output",
    "kv",
    "log",
    "markdown",
    "parse_arguments",
    "secret_placeholder",
    "secrets",
    "text",
    "tool",
    "tools",
    "validate",
]

# --- The generated bindings (inside the component) or stand-ins (plain Python) ---------------

try:  # pragma: no cover - exercised inside the component
    from componentize_py_types import Err as _Err
    from wit_world import exports as _exports
    from wit_world.exports import tool as _wit_tool
    from wit_world.imports import config as _wit_config
    from wit_world.imports import http as _wit_http
    from wit_world.imports import kv as _wit_kv
    from wit_world.imports import log as _wit_log
    from wit_world.imports import secrets as _wit_secrets

    IN_SANDBOX = True
    ToolSpec = _wit_tool.ToolSpec
    ToolOutput = _wit_tool.ToolOutput
    CallContext = _wit_tool.CallContext
    _ToolBase: type = _exports.Tool
except ImportError:
    IN_SANDBOX = False
    _wit_tool = _wit_config = _wit_http = _wit_kv = _wit_log = _wit_secrets = None
    _ToolBase = object

    @dataclass(frozen=True)
    class _Err(Exception):  # type: ignore[no-redef]
        """Stand-in for componentize-py's ``Err``: the error case of a WIT ``result``."""

        value: Any

    @dataclass
    class ToolSpec:  # type: ignore[no-redef]
        name: str
        description: str
        parameters_schema: str

    @dataclass
    class ToolOutput:  # type: ignore[no-redef]
        content: str
        content_type: str

    @dataclass
    class CallContext:  # type: ignore[no-redef]
        call_id: str
        agent_id: Optional[str] = None
        session_key: Optional[str] = None


# The sandbox gives a plugin no files, so Python can only use the modules that were imported
# while the component was built (componentize-py snapshots the interpreter after importing the
# app). Modules imported at the top of app.py are there; these are the ones the standard library
# imports lazily, inside functions (Counter.most_common needs heapq, datetime.strptime needs
# _strptime, str.encode("latin-1") needs encodings.latin_1, ...), loaded now so that such calls
# work. Any other module a plugin needs must be imported at the top of its app.py.
PRELOADED_MODULES = (
    "heapq",
    "_strptime",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.cp1252",
    "encodings.utf_16",
    "encodings.utf_32",
    "encodings.idna",
)
for _name in PRELOADED_MODULES:
    try:
        __import__(_name)
    except ImportError:  # pragma: no cover - depends on the Python build
        pass

try:  # pragma: no cover - `budget` exists from chitin:plugin@0.2.0 on
    from wit_world.imports import budget as _wit_budget
except ImportError:
    _wit_budget = None


class HostUnavailable(RuntimeError):
    """A host capability was called outside the sandbox (plain Python, e.g. in a unit test)."""


def _need(binding: Any, what: str) -> Any:
    if binding is None:
        raise HostUnavailable(
            f"{what} is provided by the Chitin host; it is not available in plain Python"
        )
    return binding


# --- Tool outputs and errors ------------------------------------------------------------------


def text(content: str) -> ToolOutput:
    """Plain-text output."""
    return ToolOutput(content=content, content_type="text/plain")


def markdown(content: str) -> ToolOutput:
    """Markdown output."""
    return ToolOutput(content=content, content_type="text/markdown")


def json_output(value: Any) -> ToolOutput:
    """A JSON value as output (``application/json``)."""
    return ToolOutput(content=_json.dumps(value, ensure_ascii=False), content_type="application/json")


class ToolError(Exception):
    """Base of the errors a handler raises to fail a call with a message the model reads."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArguments(ToolError):
    """The arguments do not fit the tool: say what to change."""


class ToolFailed(ToolError):
    """The tool ran and failed; the message is shown to the model."""


class UnknownTool(ToolError):
    """No tool of that name (raised by the dispatcher)."""


# --- Arguments --------------------------------------------------------------------------------

_JSON_TYPES: Dict[str, Tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(name, (object,)))


def validate(value: Any, schema: Dict[str, Any], path: str = "arguments") -> None:
    """Checks ``value`` against the common subset of JSON Schema that tool parameters use:
    ``type``, ``required``, ``properties``, ``additionalProperties: false``, ``enum``,
    ``items``, ``minimum``/``maximum``, ``minLength``/``maxLength``. Raises
    :class:`InvalidArguments` naming the offending path."""
    if not isinstance(schema, dict):
        return
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, n) for n in names):
            raise InvalidArguments(
                f"{path} must be of type {' or '.join(names)}, not {_type_name(value)}"
            )
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_json.dumps(c) for c in schema["enum"])
        raise InvalidArguments(f"{path} must be one of {choices}, not {_json.dumps(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidArguments(f"{path} must be at least {schema['minimum']}, not {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidArguments(f"{path} must be at most {schema['maximum']}, not {value}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise InvalidArguments(f"{path} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidArguments(f"{path} must have at most {schema['maxLength']} characters")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                raise InvalidArguments(f"{path} is missing the required property `{key}`")
        if schema.get("additionalProperties") is False:
            extra = sorted(k for k in value if k not in properties)
            if extra:
                allowed = ", ".join(f"`{k}`" for k in properties) or "none"
                raise InvalidArguments(
                    f"{path} has unknown properties {', '.join(f'`{k}`' for k in extra)} "
                    f"(allowed: {allowed})"
                )
        for key, sub in properties.items():
            if key in value:
                validate(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]")


def parse_arguments(arguments: str, schema: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Parses a call's JSON arguments into a dict (an empty string counts as ``{}``), checked
    against ``schema`` when given. Raises :class:`InvalidArguments` with what to change."""
    if arguments is None or not arguments.strip():
        value: Any = {}
    else:
        try:
            value = _json.loads(arguments)
        except ValueError as err:
            raise InvalidArguments(f"arguments are not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidArguments(f"arguments must be a JSON object, not {_type_name(value)}")
    if schema is not None:
        validate(value, schema)
    return value


# --- Declaring and exporting tools ------------------------------------------------------------

Handler = Callable[[Dict[str, Any], CallContext], Union[str, dict, list, ToolOutput]]

_TOOL_NAME = _re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class _Registered:
    spec: ToolSpec
    schema: Dict[str, Any]
    handler: Handler


_TOOLS: Dict[str, _Registered] = {}

_EMPTY_SCHEMA: Dict[str, Any] = {"type": "object", "properties": {}}


def tool(
    name: str, description: str, parameters: Optional[Dict[str, Any]] = None
) -> Callable[[Handler], Handler]:
    """Declares a tool: ``name`` (letters, digits, ``_``, ``-``), what it does (the model reads
    this to decide when to call it) and the JSON Schema of its arguments (an object schema).
    The decorated function gets ``(args, ctx)``: the checked arguments and the
    :class:`CallContext`."""
    if not _TOOL_NAME.match(name):
        raise ValueError(f"tool name {name!r} must match [A-Za-z0-9_-]{{1,64}}")
    if name in _TOOLS:
        raise ValueError(f"tool {name!r} is declared twice")
    schema = _EMPTY_SCHEMA if parameters is None else parameters
    if schema.get("type") != "object":
        raise ValueError(f'the parameters of tool {name!r} must be an object schema ("type": "object")')

    def register(handler: Handler) -> Handler:
        _TOOLS[name] = _Registered(
            spec=ToolSpec(name=name, description=description, parameters_schema=_json.dumps(schema)),
            schema=schema,
            handler=handler,
        )
        return handler

    return register


def tools() -> List[ToolSpec]:
    """The declared tools, in declaration order."""
    return [t.spec for t in _TOOLS.values()]


def _to_output(value: Any) -> ToolOutput:
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return text(value)
    if value is None:
        return text("")
    if isinstance(value, (dict, list, int, float, bool)):
        return json_output(value)
    raise TypeError(
        f"a tool handler must return str, dict, list or ToolOutput, not {type(value).__name__}"
    )


def _wit_error(kind: str, message: str) -> Any:
    if _wit_tool is None:
        return (kind, message)
    cls = {
        "invalid-arguments": _wit_tool.ToolError_InvalidArguments,
        "unknown-tool": _wit_tool.ToolError_UnknownTool,
        "failed": _wit_tool.ToolError_Failed,
    }[kind]
    return cls(message)


def call_tool(name: str, arguments: Union[str, Dict[str, Any]], context: Optional[CallContext] = None) -> ToolOutput:
    """Runs a declared tool the way the host does, raising :class:`ToolError` subclasses
    instead of WIT errors. Handy in unit tests: ``call_tool("shout", {"text": "hi"})``."""
    if isinstance(arguments, dict):
        arguments = _json.dumps(arguments)
    registered = _TOOLS.get(name)
    if registered is None:
        known = ", ".join(_TOOLS) or "none"
        raise UnknownTool(f"no tool named `{name}` (this plugin has: {known})")
    args = parse_arguments(arguments, registered.schema)
    ctx = context or CallContext(call_id="local", agent_id=None, session_key=None)
    return _to_output(registered.handler(args, ctx))


class Tool(_ToolBase):  # type: ignore[misc, valid-type]
    """The ``chitin:plugin/tool`` export: lists and dispatches the tools declared with
    :func:`tool`. Bind it in your app module: ``Tool = chitin_sdk.Tool``."""

    def describe(self) -> List[ToolSpec]:
        return tools()

    def call(self, name: str, arguments: str, context: CallContext) -> ToolOutput:
        try:
            return call_tool(name, arguments, context)
        except InvalidArguments as err:
            raise _Err(_wit_error("invalid-arguments", err.message)) from None
        except UnknownTool as err:
            raise _Err(_wit_error("unknown-tool", err.message)) from None
        except ToolFailed as err:
            raise _Err(_wit_error("failed", err.message)) from None
        except (HttpError, KvError) as err:
            raise _Err(_wit_error("failed", str(err))) from None
        except ModuleNotFoundError as err:
            hint = (
                f"{err}: the sandbox has no files, so a plugin can only use modules imported "
                f"when it was built; add `import {err.name}` at the top of app.py"
            )
            log.error(f"tool {name}: {hint}\n{_traceback.format_exc()}")
            raise _Err(_wit_error("failed", hint)) from None
        except Exception as err:  # noqa: BLE001 - a bug in a handler must not crash the call
            log.error(f"tool {name} raised:\n{_traceback.format_exc()}")
            raise _Err(_wit_error("failed", f"{type(err).__name__}: {err}")) from None


# --- Host capabilities ------------------------------------------------------------------------


class _Log:
    """``chitin:plugin/log``: rate-limited, truncated at 4 KiB and redacted by the host."""

    def _write(self, level: str, message: str) -> None:
        if _wit_log is None:
            print(f"[{level}] {message}", file=_sys.stderr)
            return
        _wit_log.log(getattr(_wit_log.Level, level.upper()), str(message))

    def trace(self, message: str) -> None:
        self._write("trace", message)

    def debug(self, message: str) -> None:
        self._write("debug", message)

    def info(self, message: str) -> None:
        self._write("info", message)

    def warn(self, message: str) -> None:
        self._write("warn", message)

    def error(self, message: str) -> None:
        self._write("error", message)


log = _Log()


class HttpError(Exception):
    """A refused or failed request. ``kind`` is one of ``denied``, ``timeout``, ``too-large``,
    ``quota-exceeded``, ``invalid-request``, ``connection``; ``detail`` is the host's text."""

    def __init__(self, kind: str, detail: Any = None):
        self.kind = kind
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.kind == "denied":
            return f"request denied: {self.detail}"
        if self.kind == "timeout":
            return "request timed out"
        if self.kind == "too-large":
            return f"response larger than {self.detail} bytes"
        if self.kind == "quota-exceeded":
            return f"request quota exceeded: {self.detail}"
        if self.kind == "invalid-request":
            return f"invalid request: {self.detail}"
        return f"connection failed: {self.detail}"


def _variant_kind(value: Any, prefix: str) -> Tuple[str, Any]:
    """``HttpError_QuotaExceeded("x")`` -> ``("quota-exceeded", "x")``."""
    name = type(value).__name__
    if name.startswith(prefix):
        name = name[len(prefix):]
    kind = _re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
    return kind, getattr(value, "value", None)


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes
    final_url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """The first header of that name (case-insensitive), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.body)


class _Http:
    """``chitin:plugin/http``: every request is checked against the operator's grant (allowlist
    before DNS, addresses after it), and secrets named with :func:`secret_placeholder` are
    inserted by the host. Raises :class:`HttpError`."""

    def fetch(
        self,
        url: str,
        method: str = "GET",
        headers: Optional[Union[Dict[str, str], List[Tuple[str, str]]]] = None,
        body: Optional[Union[bytes, str]] = None,
        json: Any = None,
        timeout_ms: Optional[int] = None,
        follow_redirects: bool = True,
    ) -> Response:
        binding = _need(_wit_http, "http")
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if json is not None:
            body = _json.dumps(json)
            if not any(k.lower() == "content-type" for k, _ in pairs):
                pairs.append(("content-type", "application/json"))
        if isinstance(body, str):
            body = body.encode("utf-8")
        request = binding.Request(
            method=method.upper(),
            url=url,
            headers=pairs,
            body=body,
            timeout_ms=timeout_ms,
            follow_redirects=follow_redirects,
        )
        try:
            r = binding.fetch(request)
        except _Err as err:
            raise HttpError(*_variant_kind(err.value, "HttpError_")) from None
        return Response(status=r.status, headers=list(r.headers), body=bytes(r.body), final_url=r.final_url)

    def get(self, url: str, headers: Optional[Dict[str, str]] = None, timeout_ms: Optional[int] = None) -> Response:
        return self.fetch(url, headers=headers, timeout_ms=timeout_ms)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.fetch(url, method="POST", **kwargs)


http = _Http()


class KvError(Exception):
    """A refused key-value operation. ``kind`` is ``denied``, ``quota-exceeded``, ``too-large``
    or ``other``."""

    def __init__(self, kind: str, detail: Any = None):
        self.kind = kind
        self.detail = detail
        super().__init__(f"key-value store: {kind}: {detail}")


class _Kv:
    """``chitin:plugin/kv``: the plugin's own namespace, bounded by the granted quota."""

    def _call(self, fn: str, *args: Any) -> Any:
        binding = _need(_wit_kv, "kv")
        try:
            return getattr(binding, fn)(*args)
        except _Err as err:
            raise KvError(*_variant_kind(err.value, "KvError_")) from None

    def get(self, key: str) -> Optional[bytes]:
        value = self._call("get", key)
        return None if value is None else bytes(value)

    def get_text(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.get(key)
        return default if value is None else value.decode("utf-8")

    def get_json(self, key: str, default: Any = None) -> Any:
        value = self.get(key)
        return default if value is None else _json.loads(value)

    def set(self, key: str, value: Union[bytes, str]) -> None:
        self._call("set", key, value.encode("utf-8") if isinstance(value, str) else bytes(value))

    def set_json(self, key: str, value: Any) -> None:
        self.set(key, _json.dumps(value))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", key))

    def list_keys(self, prefix: str = "", limit: int = 1000) -> List[str]:
        return list(self._call("list_keys", prefix, limit))


kv = _Kv()


class _Config:
    """``chitin:plugin/config``: non-secret values the operator set, for keys the manifest
    declares."""

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The value the operator set, else ``default`` (also outside the sandbox)."""
        if _wit_config is None:
            return default
        value = _wit_config.get(key)
        return default if value is None else value

    def keys(self) -> List[str]:
        return list(_need(_wit_config, "config").list_keys())


config = _Config()


class _Secrets:
    def exists(self, name: str) -> bool:
        """Whether the operator stored and granted the secret (its value never enters the
        sandbox: write :func:`secret_placeholder` where it goes)."""
        return bool(_need(_wit_secrets, "secrets").exists(name))


secrets = _Secrets()


def secret_placeholder(name: str) -> str:
    """``{{secret:NAME}}``: the host replaces it with the secret's value at the network edge,
    only in the places the manifest allows and only for the hosts the secret may reach."""
    return "{{secret:" + name + "}}"


class _Budget:
    """What is left of the current call's budgets (``chitin:plugin/budget``, from WIT 0.2.0;
    ``None`` when the plugin is built against an older contract)."""

    def remaining_ms(self) -> Optional[int]:
        return None if _wit_budget is None else int(_wit_budget.remaining_ms())

    def remaining_http_requests(self) -> Optional[int]:
        return None if _wit_budget is None else int(_wit_budget.remaining_http_requests())


budget = _Budget()
