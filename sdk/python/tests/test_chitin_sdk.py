"""Unit tests of chitin_sdk in plain Python (outside the sandbox), and of the py-wordcount
example's logic. Run from sdk/python: `python3 -m unittest discover -s tests`. The component
build and the sandbox are exercised by tests/all/sdk_python_js.rs."""

import importlib.util
import json
import sys
import unittest
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SDK / "src"))

import chitin_sdk as chitin  # noqa: E402


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name.replace('-', '_')}", SDK / "examples" / name / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wordcount = load_example("py-wordcount")

SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 5},
        "n": {"type": "integer", "minimum": 1, "maximum": 3},
        "mode": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
    },
    "required": ["text"],
    "additionalProperties": False,
}


@chitin.tool("unit_echo", "Echoes its text.", SCHEMA)
def unit_echo(args, ctx):
    return args["text"]


@chitin.tool("unit_fail", "Fails in various ways.", {"type": "object", "properties": {"how": {"type": "string"}}})
def unit_fail(args, ctx):
    how = args.get("how")
    if how == "invalid":
        raise chitin.InvalidArguments("bad how")
    if how == "failed":
        raise chitin.ToolFailed("it failed")
    if how == "http":
        raise chitin.HttpError("denied", "no grant")
    if how == "module":
        raise ModuleNotFoundError("No module named 'nowhere'", name="nowhere")
    if how == "json":
        return {"a": [1, 2]}
    if how == "output":
        return chitin.markdown("# hi")
    return 1 / 0


def wit_call(name, args):
    """Tool().call the way the host calls it; returns the output or the (kind, message) error."""
    try:
        return chitin.Tool().call(name, json.dumps(args), chitin.CallContext("c1", None, None))
    except chitin._Err as err:  # the stand-in for componentize-py's Err outside the sandbox
        return err.value


class ArgumentsTest(unittest.TestCase):
    def invalid(self, args, expected):
        with self.assertRaises(chitin.InvalidArguments) as caught:
            chitin.validate(args, SCHEMA)
        self.assertIn(expected, caught.exception.message)

    def test_valid_arguments_pass(self):
        chitin.validate({"text": "abc", "n": 2, "mode": "a", "tags": ["x"], "ratio": 1, "flag": True}, SCHEMA)
        chitin.validate({"text": "abc", "n": 2.0}, SCHEMA)  # JSON has one number type

    def test_each_rule_names_the_offending_path(self):
        self.invalid({}, "arguments is missing the required property `text`")
        self.invalid({"text": 3}, "arguments.text must be of type string, not integer")
        self.invalid({"text": ""}, "arguments.text must have at least 1 characters")
        self.invalid({"text": "toolong"}, "arguments.text must have at most 5 characters")
        self.invalid({"text": "a", "n": True}, "arguments.n must be of type integer, not boolean")
        self.invalid({"text": "a", "n": 1.5}, "arguments.n must be of type integer, not number")
        self.invalid({"text": "a", "n": 0}, "arguments.n must be at least 1, not 0")
        self.invalid({"text": "a", "n": 4}, "arguments.n must be at most 3, not 4")
        self.invalid({"text": "a", "mode": "c"}, 'arguments.mode must be one of "a", "b", not "c"')
        self.invalid({"text": "a", "tags": ["x", 1]}, "arguments.tags[1] must be of type string, not integer")
        self.invalid({"text": "a", "x": 1, "w": 2}, "arguments has unknown properties `w`, `x`")

    def test_parse_arguments(self):
        self.assertEqual(chitin.parse_arguments(""), {})
        self.assertEqual(chitin.parse_arguments(' {"a": 1} '), {"a": 1})
        with self.assertRaises(chitin.InvalidArguments) as caught:
            chitin.parse_arguments("{oops")
        self.assertIn("arguments are not valid JSON", caught.exception.message)
        with self.assertRaises(chitin.InvalidArguments) as caught:
            chitin.parse_arguments("[1]")
        self.assertEqual(caught.exception.message, "arguments must be a JSON object, not array")


class ToolTest(unittest.TestCase):
    def test_describe_lists_declared_tools_with_their_schemas(self):
        specs = {s.name: s for s in chitin.Tool().describe()}
        self.assertEqual(json.loads(specs["unit_echo"].parameters_schema), SCHEMA)
        self.assertEqual(specs["unit_echo"].description, "Echoes its text.")

    def test_outputs(self):
        self.assertEqual(wit_call("unit_echo", {"text": "hi"}), chitin.ToolOutput("hi", "text/plain"))
        out = wit_call("unit_fail", {"how": "json"})
        self.assertEqual((json.loads(out.content), out.content_type), ({"a": [1, 2]}, "application/json"))
        self.assertEqual(wit_call("unit_fail", {"how": "output"}).content_type, "text/markdown")

    def test_errors_become_tool_errors(self):
        self.assertEqual(wit_call("unit_echo", {}), ("invalid-arguments", "arguments is missing the required property `text`"))
        self.assertEqual(wit_call("unit_fail", {"how": "invalid"}), ("invalid-arguments", "bad how"))
        self.assertEqual(wit_call("unit_fail", {"how": "failed"}), ("failed", "it failed"))
        self.assertEqual(wit_call("unit_fail", {"how": "http"}), ("failed", "request denied: no grant"))
        self.assertEqual(wit_call("unit_fail", {}), ("failed", "ZeroDivisionError: division by zero"))
        kind, message = wit_call("unit_fail", {"how": "module"})
        self.assertEqual(kind, "failed")
        self.assertIn("add `import nowhere` at the top of app.py", message)
        kind, message = wit_call("nope", {})
        self.assertEqual(kind, "unknown-tool")
        self.assertTrue(message.startswith("no tool named `nope` (this plugin has: "), message)

    def test_declarations_are_checked(self):
        with self.assertRaises(ValueError):
            chitin.tool("has space", "x")
        with self.assertRaises(ValueError):
            chitin.tool("unit_echo", "declared twice")(lambda a, c: "")
        with self.assertRaises(ValueError):
            chitin.tool("not_object", "x", {"type": "string"})


class HostTest(unittest.TestCase):
    def test_outside_the_sandbox(self):
        self.assertFalse(chitin.IN_SANDBOX)
        with self.assertRaises(chitin.HostUnavailable):
            chitin.http.get("https://example.com")
        with self.assertRaises(chitin.HostUnavailable):
            chitin.kv.get("k")
        with self.assertRaises(chitin.HostUnavailable):
            chitin.secrets.exists("K")
        self.assertEqual(chitin.config.get("k", "fallback"), "fallback")
        self.assertIsNone(chitin.budget.remaining_ms())
        chitin.log.info("logging works outside the sandbox too")

    def test_secret_placeholder(self):
        self.assertEqual(chitin.secret_placeholder("API_KEY"), "{{secret:API_KEY}}")

    def test_http_error_kinds(self):
        class HttpError_QuotaExceeded:  # the shape of componentize-py's variant cases
            value = "3 requests"

        class HttpError_Timeout:
            pass

        self.assertEqual(chitin._variant_kind(HttpError_QuotaExceeded(), "HttpError_"), ("quota-exceeded", "3 requests"))
        self.assertEqual(chitin._variant_kind(HttpError_Timeout(), "HttpError_"), ("timeout", None))
        self.assertEqual(str(chitin.HttpError("too-large", 10)), "response larger than 10 bytes")
        self.assertEqual(str(chitin.HttpError("timeout")), "request timed out")

    def test_response(self):
        r = chitin.Response(200, [("Content-Type", "text/html")], b'{"a": "\xc3\xa9"}', "http://x/")
        self.assertTrue(r.ok)
        self.assertEqual(r.header("content-type"), "text/html")
        self.assertIsNone(r.header("x-missing"))
        self.assertEqual(r.json(), {"a": "é"})


class WordCountExampleTest(unittest.TestCase):
    def test_counts_text(self):
        out = chitin.call_tool("word_count", {"text": "It's a dog-eat-dog world, isn't it? It is.", "top": 2})
        counted = json.loads(out.content)
        self.assertEqual(counted["words"], 8)
        self.assertEqual(counted["top"], [["it", 2], ["it's", 1]])

    def test_page_text_drops_markup(self):
        page = chitin.Response(
            200,
            [("content-type", "text/html")],
            b"<html><head><title>T</title><style>p{}</style></head><body><p>A &amp; B</p>"
            b"<script>var x</script></body></html>",
            "http://x/",
        )
        self.assertEqual(wordcount.page_text(page).split(), ["A", "&", "B"])


if __name__ == "__main__":
    unittest.main()
