#!/usr/bin/env python3
"""Checks recorded gateway protocol frames against the JSON Schemas in docs/protocol/.

Usage: validate_frames.py RECORDING.json [SCHEMA_DIR]

RECORDING is a JSON list of entries, in the order the frames were sent and received:

    {"direction": "out" | "in",   # out: client to gateway, in: gateway to client
     "method": "<name>",          # for requests, and for responses: the matching request's method
     "frame": {...},              # the frame as sent or received
     "expect": "invalid",         # optional, on "out" frames the gateway refuses as malformed
     "connection": "<label>"}     # optional, ignored here (which connection, for people)

Every frame is checked against frame.schema.json. In addition:
- a request's `params` (omitted or null counts as {}) against `<method>.params` in
  methods.schema.json, unless the gateway answered it with INVALID_REQUEST or UNKNOWN_METHOD
  (such requests are usually wrong on purpose);
- an ok response's `payload` against `<method>.result`;
- an event's `payload` against events.schema.json's entry for the event;
- a frame marked `"expect": "invalid"` must NOT pass frame.schema.json (the gateway refuses it,
  so the schema must too), and is not checked otherwise.

Prints every violation (frame index, method or event, JSON path, message) and exits 1 if there
is any; prints a one-line summary and exits 0 otherwise.
"""

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_FILES = ("frame.schema.json", "methods.schema.json", "events.schema.json")
# Errors after which a request's params are not expected to be valid.
PARAMS_NOT_CHECKED = {"INVALID_REQUEST", "UNKNOWN_METHOD"}


def load_schemas(schema_dir):
    schemas = {}
    for name in SCHEMA_FILES:
        schema = json.loads((schema_dir / name).read_text())
        Draft202012Validator.check_schema(schema)
        schemas[name] = schema
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return schemas, registry


class Checker:
    def __init__(self, schema_dir):
        self.schemas, self.registry = load_schemas(schema_dir)
        self.validators = {}
        self.violations = []

    def defs(self, file):
        return self.schemas[file].get("$defs", {})

    def validator(self, file, pointer=""):
        key = (file, pointer)
        if key not in self.validators:
            base = self.schemas[file]["$id"]
            schema = {"$ref": f"{base}#{pointer}"} if pointer else self.schemas[file]
            self.validators[key] = Draft202012Validator(schema, registry=self.registry)
        return self.validators[key]

    def errors(self, file, pointer, instance):
        errors = self.validator(file, pointer).iter_errors(instance)
        return sorted(errors, key=lambda e: (list(e.absolute_path), e.message))

    def report(self, index, what, path, message):
        self.violations.append(f"frame #{index} ({what}) at {path}: {message}")

    def check(self, index, what, file, pointer, instance, prefix):
        for error in self.errors(file, pointer, instance):
            path = prefix + error.json_path[1:]
            message = error.message
            if error.validator == "not" and error.validator_value == {}:
                message = f"no such field here (found {json.dumps(error.instance)})"
            self.report(index, what, path, f"{message} [{file}#{pointer or '/'}]")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    recording = json.loads(Path(sys.argv[1]).read_text())
    schema_dir = (
        Path(sys.argv[2])
        if len(sys.argv) == 3
        else Path(__file__).resolve().parents[2] / "docs" / "protocol"
    )
    checker = Checker(schema_dir)
    methods = checker.defs("methods.schema.json")
    events = checker.defs("events.schema.json")

    # How the gateway answered each request id: None when ok, else the error code.
    answers = {}
    for entry in recording:
        frame = entry.get("frame")
        if entry.get("direction") == "in" and isinstance(frame, dict) and frame.get("type") == "res":
            if isinstance(frame.get("id"), str):
                answers[frame["id"]] = None if frame.get("ok") is True else (
                    (frame.get("error") or {}).get("code") or "?"
                )

    counts = {"req": 0, "res": 0, "event": 0}
    for index, entry in enumerate(recording):
        direction = entry.get("direction")
        frame = entry.get("frame")
        method = entry.get("method")
        if direction not in ("in", "out") or not isinstance(frame, dict):
            checker.report(index, "recording", "$", "not a {direction, method, frame} entry")
            continue
        kind = frame.get("type")
        if kind in counts:
            counts[kind] += 1
        what = f"{direction} {kind} {frame.get('event') or method or frame.get('method') or ''}".strip()

        if entry.get("expect") == "invalid":
            if not checker.errors("frame.schema.json", "", frame):
                checker.report(
                    index,
                    what,
                    "$",
                    "the gateway refused this frame, but frame.schema.json accepts it",
                )
            continue

        checker.check(index, what, "frame.schema.json", "", frame, "$")

        if direction == "out" and kind == "req":
            method = frame.get("method")
            answer = answers.get(frame.get("id"), "no answer")
            if answer in PARAMS_NOT_CHECKED:
                continue
            if f"{method}.params" not in methods:
                checker.report(
                    index, what, "$.method", f"`{method}` has no params schema in methods.schema.json"
                )
                continue
            params = frame.get("params")
            checker.check(
                index,
                what,
                "methods.schema.json",
                f"/$defs/{method}.params",
                {} if params is None else params,
                "$.params",
            )
        elif direction == "in" and kind == "res" and frame.get("ok") is True:
            if not method:
                checker.report(index, what, "$", "the recording does not name the request's method")
            elif f"{method}.result" not in methods:
                checker.report(
                    index, what, "$", f"`{method}` has no result schema in methods.schema.json"
                )
            else:
                checker.check(
                    index,
                    what,
                    "methods.schema.json",
                    f"/$defs/{method}.result",
                    frame.get("payload"),
                    "$.payload",
                )
        elif direction == "in" and kind == "event":
            name = frame.get("event")
            if name not in events:
                checker.report(index, what, "$.event", f"`{name}` has no payload schema in events.schema.json")
            else:
                checker.check(
                    index, what, "events.schema.json", f"/$defs/{name}", frame.get("payload"), "$.payload"
                )

    for violation in checker.violations:
        print(violation)
    summary = (
        f"{len(recording)} frames ({counts['req']} requests, {counts['res']} responses, "
        f"{counts['event']} events): {len(checker.violations)} violations"
    )
    print(summary)
    sys.exit(1 if checker.violations else 0)


if __name__ == "__main__":
    main()
