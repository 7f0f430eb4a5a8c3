// Unit tests of chitin-sdk in plain Node (outside the sandbox), and of the js-slugify example's
// logic. Run from sdk/js: `node --test test/`. The component build and the sandbox are
// exercised by tests/all/sdk_python_js.rs.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";

import {
  bindHost,
  budget,
  config,
  exportTools,
  HostUnavailable,
  http,
  HttpError,
  InvalidArguments,
  kv,
  markdown,
  parseArguments,
  secretPlaceholder,
  ToolFailed,
  validate,
} from "chitin-sdk";
import { slugify, tool as slugTool } from "../examples/js-slugify/app.js";

const SCHEMA = {
  type: "object",
  properties: {
    text: { type: "string", minLength: 1, maxLength: 5 },
    n: { type: "integer", minimum: 1, maximum: 3 },
    mode: { enum: ["a", "b"] },
    tags: { type: "array", items: { type: "string" } },
    flag: { type: "boolean" },
  },
  required: ["text"],
  additionalProperties: false,
};

function invalid(args, expected) {
  assert.throws(
    () => validate(args, SCHEMA),
    (err) => err instanceof InvalidArguments && err.message.includes(expected),
  );
}

/** What the host sees: the output, or the thrown WIT variant. */
async function hostCall(tools, name, args) {
  try {
    return await tools.call(name, JSON.stringify(args), { callId: "c1" });
  } catch (variant) {
    return variant;
  }
}

afterEach(() => bindHost(null));

describe("arguments", () => {
  it("accepts valid arguments", () => {
    validate({ text: "abc", n: 2, mode: "a", tags: ["x"], flag: true }, SCHEMA);
  });

  it("names the offending path for each rule", () => {
    invalid({}, "arguments is missing the required property `text`");
    invalid({ text: 3 }, "arguments.text must be of type string, not integer");
    invalid({ text: "" }, "arguments.text must have at least 1 characters");
    invalid({ text: "toolong" }, "arguments.text must have at most 5 characters");
    invalid({ text: "a", n: 1.5 }, "arguments.n must be of type integer, not number");
    invalid({ text: "a", n: 0 }, "arguments.n must be at least 1, not 0");
    invalid({ text: "a", n: 4 }, "arguments.n must be at most 3, not 4");
    invalid({ text: "a", mode: "c" }, 'arguments.mode must be one of "a", "b", not "c"');
    invalid({ text: "a", tags: ["x", 1] }, "arguments.tags[1] must be of type string, not integer");
    invalid({ text: "a", x: 1, w: 2 }, "arguments has unknown properties `w`, `x`");
  });

  it("parses JSON objects only", () => {
    assert.deepEqual(parseArguments(""), {});
    assert.deepEqual(parseArguments(' {"a": 1} '), { a: 1 });
    assert.throws(() => parseArguments("{oops"), /arguments are not valid JSON/);
    assert.throws(() => parseArguments("[1]"), /arguments must be a JSON object, not array/);
  });
});

describe("exportTools", () => {
  const tools = exportTools({
    echo: { description: "Echoes.", parameters: SCHEMA, run: (args) => args.text },
    fail: {
      description: "Fails.",
      run(args) {
        switch (args.how) {
          case "invalid":
            throw new InvalidArguments("bad how");
          case "failed":
            throw new ToolFailed("it failed");
          case "http":
            throw new HttpError("denied", "no grant");
          case "json":
            return { a: [1, 2] };
          case "markdown":
            return markdown("# hi");
          case "async":
            return Promise.resolve("later");
          case "async-fail":
            return Promise.reject(new ToolFailed("later failure"));
          default:
            return null.x;
        }
      },
    },
  });

  it("describes the tools with their schemas", () => {
    const specs = tools.describe();
    assert.deepEqual(
      specs.map((s) => s.name),
      ["echo", "fail"],
    );
    assert.deepEqual(JSON.parse(specs[0].parametersSchema), SCHEMA);
    assert.deepEqual(JSON.parse(specs[1].parametersSchema), { type: "object", properties: {} });
  });

  it("turns results into outputs", async () => {
    assert.deepEqual(await hostCall(tools, "echo", { text: "hi" }), {
      content: "hi",
      contentType: "text/plain",
    });
    assert.deepEqual(await hostCall(tools, "fail", { how: "json" }), {
      content: '{"a":[1,2]}',
      contentType: "application/json",
    });
    assert.equal((await hostCall(tools, "fail", { how: "markdown" })).contentType, "text/markdown");
    assert.equal((await hostCall(tools, "fail", { how: "async" })).content, "later");
  });

  it("turns errors into tool errors", async () => {
    const cases = [
      ["echo", {}, "invalid-arguments", "arguments is missing the required property `text`"],
      ["fail", { how: "invalid" }, "invalid-arguments", "bad how"],
      ["fail", { how: "failed" }, "failed", "it failed"],
      ["fail", { how: "http" }, "failed", "request denied: no grant"],
      ["fail", { how: "async-fail" }, "failed", "later failure"],
      ["fail", {}, "failed", "TypeError: Cannot read properties of null (reading 'x')"],
      ["nope", {}, "unknown-tool", "no tool named `nope` (this plugin has: echo, fail)"],
    ];
    for (const [name, args, tag, val] of cases) {
      assert.deepEqual(await hostCall(tools, name, args), { tag, val }, `${name} ${JSON.stringify(args)}`);
    }
  });

  it("checks declarations", () => {
    assert.throws(() => exportTools({ "has space": { run() {} } }), /must match/);
    assert.throws(() => exportTools({ x: {} }), /has no run/);
    assert.throws(() => exportTools({ x: { parameters: { type: "string" }, run() {} } }), /object schema/);
  });
});

describe("host capabilities", () => {
  it("are unavailable outside the sandbox, except log and config", () => {
    assert.throws(() => http.get("https://example.com"), HostUnavailable);
    assert.throws(() => kv.get("k"), HostUnavailable);
    assert.equal(config.get("k", "fallback"), "fallback");
    assert.equal(budget.remainingMs(), undefined);
    assert.equal(secretPlaceholder("API_KEY"), "{{secret:API_KEY}}");
  });

  it("maps http requests, responses and errors", () => {
    const sent = [];
    bindHost({
      http: {
        fetch(request) {
          sent.push(request);
          if (request.url.includes("denied")) {
            throw Object.assign(new Error("import error"), { payload: { tag: "denied", val: "no grant" } });
          }
          return {
            status: 200,
            headers: [["Content-Type", "application/json"]],
            body: new TextEncoder().encode('{"ok":true}'),
            finalUrl: request.url,
          };
        },
      },
    });
    const response = http.post("https://api.example/x", { json: { a: 1 }, headers: { "x-k": secretPlaceholder("K") } });
    assert.equal(response.ok, true);
    assert.equal(response.header("content-type"), "application/json");
    assert.deepEqual(response.json(), { ok: true });
    assert.equal(sent[0].method, "POST");
    assert.deepEqual(sent[0].headers, [
      ["x-k", "{{secret:K}}"],
      ["content-type", "application/json"],
    ]);
    assert.equal(new TextDecoder().decode(sent[0].body), '{"a":1}');
    assert.equal(sent[0].followRedirects, true);
    assert.throws(
      () => http.get("https://denied.example/"),
      (err) => err instanceof HttpError && err.kind === "denied" && err.message === "request denied: no grant",
    );
  });

  it("maps kv values and errors", () => {
    const store = new Map();
    bindHost({
      kv: {
        get: (key) => store.get(key),
        set(key, value) {
          if (key === "full") throw Object.assign(new Error("x"), { payload: { tag: "quota-exceeded", val: "1 KiB" } });
          store.set(key, value);
        },
        delete: (key) => store.delete(key),
        listKeys: (prefix, limit) => [...store.keys()].filter((k) => k.startsWith(prefix)).slice(0, limit),
      },
    });
    kv.setJson("a", { n: 1 });
    assert.deepEqual(kv.getJson("a"), { n: 1 });
    assert.equal(kv.getText("missing"), undefined);
    assert.deepEqual(kv.listKeys("a"), ["a"]);
    assert.equal(kv.delete("a"), true);
    assert.throws(() => kv.set("full", "x"), (err) => err.kind === "quota-exceeded");
  });
});

describe("js-slugify example", () => {
  it("slugifies", () => {
    assert.equal(slugify("Crème Brûlée: Straße & Ærø — 2024!"), "creme-brulee-strasse-aero-2024");
    assert.equal(slugify("  Hello,   World  ", "_"), "hello_world");
    assert.equal(slugify("one two three", "-", 8), "one-two");
    assert.equal(slugify("x".repeat(10), "-", 4), "xxxx");
    assert.equal(slugify("!!!"), "");
  });

  it("uses the operator's separator and unique slugs from kv", async () => {
    const store = new Map();
    bindHost({
      config: { get: (key) => (key === "separator" ? "." : undefined), listKeys: () => ["separator"] },
      kv: { get: (key) => store.get(key), set: (key, value) => store.set(key, value) },
    });
    assert.equal(slugTool.run("slugify", { text: "Hello World" }).content, "hello.world");
    assert.equal(slugTool.run("slug_unique", { text: "Hello World" }).content, "hello.world");
    assert.equal(slugTool.run("slug_unique", { text: "hello world" }).content, "hello.world.2");
  });
});
