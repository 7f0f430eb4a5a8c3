// Write Chitin tool plugins in JavaScript.
//
// A plugin is an ES module (app.js) that exports its tools as `tool`, the name of the
// `chitin:plugin/tool` interface:
//
//   import { exportTools, InvalidArguments } from "chitin-sdk";
//
//   export const tool = exportTools({
//     shout: {
//       description: "Upper-cases text.",
//       parameters: {
//         type: "object",
//         properties: { text: { type: "string" } },
//         required: ["text"],
//       },
//       run(args, ctx) {
//         return args.text.toUpperCase();
//       },
//     },
//   });
//
// The arguments arrive parsed and checked against the tool's JSON Schema (required keys, types,
// enums), so a model's mistake comes back as an `invalid-arguments` error it can act on. `run`
// (sync or async) returns a string (text/plain), an object or array (application/json) or a `ToolOutput`
// (`text()`, `markdown()`, `json()`); it fails with `InvalidArguments` or `ToolFailed`. Any other
// exception becomes a `failed` error naming it (its stack goes to the host log) instead of
// crashing the call.
//
// Host capabilities, each refused unless the operator granted it: `log`, `http` (outbound
// requests through the host's egress policy), `kv`, `config`, `secrets` and `secretPlaceholder`
// (the host inserts a secret's value at the network edge; the plugin never sees it).
//
// The build (build-plugin.sh) binds the host's interfaces to this module. Outside the sandbox
// (plain Node, for unit tests) the tool machinery works the same; host calls throw
// `HostUnavailable`, except `log`, which writes to stderr, and `config.get`, which returns its
// fallback.

/** The `chitin:plugin` interfaces, bound by the build's entry module. */
let host = null;

/**
 * Binds the `chitin:plugin` interfaces (`{ log, config, secrets, kv, http, budget }`, each an
 * imported WIT interface). The build's generated entry module calls it before any tool runs;
 * unit tests can pass stand-ins.
 */
export function bindHost(interfaces) {
  host = interfaces;
}

/** Whether this code runs inside the Chitin sandbox (host interfaces bound). */
export function inSandbox() {
  return host !== null;
}

export class HostUnavailable extends Error {
  constructor(what) {
    super(`${what} is provided by the Chitin host; it is not available outside the sandbox`);
    this.name = "HostUnavailable";
  }
}

function need(name) {
  const binding = host && host[name];
  if (!binding) {
    throw new HostUnavailable(name);
  }
  return binding;
}

// --- Tool outputs and errors ------------------------------------------------------------------

/** Plain-text output. */
export function text(content) {
  return { content: String(content), contentType: "text/plain" };
}

/** Markdown output. */
export function markdown(content) {
  return { content: String(content), contentType: "text/markdown" };
}

/** A JSON value as output (application/json). */
export function json(value) {
  return { content: JSON.stringify(value), contentType: "application/json" };
}

/** Base of the errors a tool throws to fail a call with a message the model reads. */
export class ToolError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The arguments do not fit the tool: say what to change. */
export class InvalidArguments extends ToolError {}

/** The tool ran and failed; the message is shown to the model. */
export class ToolFailed extends ToolError {}

/** No tool of that name (thrown by the dispatcher). */
export class UnknownTool extends ToolError {}

// --- Arguments --------------------------------------------------------------------------------

function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function isType(value, name) {
  switch (name) {
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "null":
      return value === null;
    default:
      return true;
  }
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Checks `value` against the common subset of JSON Schema that tool parameters use: `type`,
 * `required`, `properties`, `additionalProperties: false`, `enum`, `items`,
 * `minimum`/`maximum`, `minLength`/`maxLength`. Throws `InvalidArguments` naming the path.
 */
export function validate(value, schema, path = "arguments") {
  if (!schema || typeof schema !== "object") return;
  if (schema.type !== undefined) {
    const names = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!names.some((n) => isType(value, n))) {
      throw new InvalidArguments(
        `${path} must be of type ${names.join(" or ")}, not ${typeName(value)}`,
      );
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((c) => sameValue(c, value))) {
    const choices = schema.enum.map((c) => JSON.stringify(c)).join(", ");
    throw new InvalidArguments(`${path} must be one of ${choices}, not ${JSON.stringify(value)}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      throw new InvalidArguments(`${path} must be at least ${schema.minimum}, not ${value}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      throw new InvalidArguments(`${path} must be at most ${schema.maximum}, not ${value}`);
    }
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) {
      throw new InvalidArguments(`${path} must have at least ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && length > schema.maxLength) {
      throw new InvalidArguments(`${path} must have at most ${schema.maxLength} characters`);
    }
  }
  if (isType(value, "object")) {
    const properties = schema.properties || {};
    for (const key of schema.required || []) {
      if (!Object.hasOwn(value, key)) {
        throw new InvalidArguments(`${path} is missing the required property \`${key}\``);
      }
    }
    if (schema.additionalProperties === false) {
      const extra = Object.keys(value).filter((k) => !Object.hasOwn(properties, k)).sort();
      if (extra.length > 0) {
        const allowed = Object.keys(properties).map((k) => `\`${k}\``).join(", ") || "none";
        throw new InvalidArguments(
          `${path} has unknown properties ${extra.map((k) => `\`${k}\``).join(", ")} ` +
            `(allowed: ${allowed})`,
        );
      }
    }
    for (const [key, sub] of Object.entries(properties)) {
      if (Object.hasOwn(value, key)) validate(value[key], sub, `${path}.${key}`);
    }
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === "object") {
    value.forEach((item, i) => validate(item, schema.items, `${path}[${i}]`));
  }
}

/**
 * Parses a call's JSON arguments into an object (an empty string counts as `{}`), checked
 * against `schema` when given. Throws `InvalidArguments` with what to change.
 */
export function parseArguments(argumentsJson, schema) {
  let value = {};
  if (argumentsJson && argumentsJson.trim()) {
    try {
      value = JSON.parse(argumentsJson);
    } catch (err) {
      throw new InvalidArguments(`arguments are not valid JSON: ${err.message}`);
    }
  }
  if (!isType(value, "object")) {
    throw new InvalidArguments(`arguments must be a JSON object, not ${typeName(value)}`);
  }
  if (schema) validate(value, schema);
  return value;
}

// --- Declaring and exporting tools ------------------------------------------------------------

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const EMPTY_SCHEMA = { type: "object", properties: {} };

function toOutput(value) {
  if (value === undefined || value === null) return text("");
  if (typeof value === "string") return text(value);
  if (
    typeof value === "object" &&
    !Array.isArray(value) &&
    typeof value.content === "string" &&
    typeof value.contentType === "string"
  ) {
    return value;
  }
  if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
    throw new TypeError(`a tool must return a string, an object or a ToolOutput, not ${typeof value}`);
  }
  return json(value);
}

function errorText(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * The `chitin:plugin/tool` export for the tools in `definitions`, keyed by tool name (letters,
 * digits, `_`, `-`): `{ description, parameters (an object JSON Schema), run(args, ctx) }`.
 * `ctx` is `{ callId, agentId, sessionKey }`. Export the result as `tool`.
 *
 * Besides `describe` and `call` (what the host calls), the result has `run(name, args, ctx?)`,
 * which returns the output or throws the `ToolError`: handy in unit tests.
 */
export function exportTools(definitions) {
  const tools = new Map();
  for (const [name, def] of Object.entries(definitions)) {
    if (!TOOL_NAME.test(name)) {
      throw new Error(`tool name ${JSON.stringify(name)} must match [A-Za-z0-9_-]{1,64}`);
    }
    if (typeof def.run !== "function") {
      throw new Error(`tool ${name} has no run(args, ctx) function`);
    }
    const schema = def.parameters ?? EMPTY_SCHEMA;
    if (schema.type !== "object") {
      throw new Error(`the parameters of tool ${name} must be an object schema ("type": "object")`);
    }
    tools.set(name, {
      spec: { name, description: String(def.description ?? ""), parametersSchema: JSON.stringify(schema) },
      schema,
      run: def.run,
    });
  }

  /** The tool's output, or a Promise of it when `run` is async. */
  function run(name, args, context) {
    const tool = tools.get(name);
    if (!tool) {
      const known = [...tools.keys()].join(", ") || "none";
      throw new UnknownTool(`no tool named \`${name}\` (this plugin has: ${known})`);
    }
    const json = typeof args === "string" ? args : JSON.stringify(args ?? {});
    const ctx = context ?? { callId: "local", agentId: undefined, sessionKey: undefined };
    const result = tool.run(parseArguments(json, tool.schema), ctx);
    return isThenable(result) ? Promise.resolve(result).then(toOutput) : toOutput(result);
  }

  // The WIT error of the export (`tool-error`, a variant) for what a tool threw.
  function toolError(name, err) {
    if (err instanceof InvalidArguments) return { tag: "invalid-arguments", val: err.message };
    if (err instanceof UnknownTool) return { tag: "unknown-tool", val: err.message };
    if (err instanceof ToolFailed || err instanceof HttpError || err instanceof KvError) {
      return { tag: "failed", val: err.message };
    }
    log.error(`tool ${name} threw: ${(err && err.stack) || errorText(err)}`);
    return { tag: "failed", val: errorText(err) };
  }

  return {
    describe() {
      return [...tools.values()].map((t) => t.spec);
    },
    // componentize-js runs the event loop until a returned Promise settles.
    call(name, argumentsJson, context) {
      let output;
      try {
        output = run(name, argumentsJson, context);
      } catch (err) {
        throw toolError(name, err);
      }
      if (isThenable(output)) {
        return output.catch((err) => {
          throw toolError(name, err);
        });
      }
      return output;
    },
    run,
  };
}

function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}

// --- Host capabilities ------------------------------------------------------------------------

function write(level, message) {
  if (!host) {
    console.error(`[${level}] ${message}`);
    return;
  }
  need("log").log(level, String(message));
}

/** `chitin:plugin/log`: rate-limited, truncated at 4 KiB and redacted by the host. */
export const log = {
  trace: (message) => write("trace", message),
  debug: (message) => write("debug", message),
  info: (message) => write("info", message),
  warn: (message) => write("warn", message),
  error: (message) => write("error", message),
};

function variantOf(err) {
  // Import errors arrive as an Error whose `payload` is the WIT variant ({ tag, val }).
  const payload = err && typeof err === "object" && "payload" in err ? err.payload : err;
  if (payload && typeof payload === "object" && typeof payload.tag === "string") return payload;
  return null;
}

/**
 * A refused or failed request. `kind` is one of `denied`, `timeout`, `too-large`,
 * `quota-exceeded`, `invalid-request`, `connection`; `detail` is the host's text.
 */
export class HttpError extends Error {
  constructor(kind, detail) {
    super(describeHttpError(kind, detail));
    this.name = "HttpError";
    this.kind = kind;
    this.detail = detail;
  }
}

function describeHttpError(kind, detail) {
  switch (kind) {
    case "denied":
      return `request denied: ${detail}`;
    case "timeout":
      return "request timed out";
    case "too-large":
      return `response larger than ${detail} bytes`;
    case "quota-exceeded":
      return `request quota exceeded: ${detail}`;
    case "invalid-request":
      return `invalid request: ${detail}`;
    default:
      return `connection failed: ${detail}`;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An HTTP response: `status`, `headers` ([name, value] pairs), `body` (bytes), `finalUrl`. */
export class Response {
  constructor(status, headers, body, finalUrl) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.finalUrl = finalUrl;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The first header of that name (case-insensitive), or undefined. */
  header(name) {
    const lower = name.toLowerCase();
    const found = this.headers.find(([k]) => k.toLowerCase() === lower);
    return found ? found[1] : undefined;
  }

  /** The body decoded as UTF-8. */
  text() {
    return decoder.decode(this.body);
  }

  json() {
    return JSON.parse(this.text());
  }
}

/**
 * `chitin:plugin/http`: every request is checked against the operator's grant (allowlist before
 * DNS, addresses after it), and secrets named with `secretPlaceholder` are inserted by the
 * host. Throws `HttpError`.
 */
export const http = {
  /**
   * `options`: `method` (GET), `headers` (object or [name, value] pairs), `body` (string or
   * Uint8Array), `json` (a value sent as JSON), `timeoutMs`, `followRedirects` (true).
   */
  fetch(url, options = {}) {
    const binding = need("http");
    let headers = options.headers ?? [];
    headers = Array.isArray(headers) ? [...headers] : Object.entries(headers);
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      if (!headers.some(([k]) => k.toLowerCase() === "content-type")) {
        headers.push(["content-type", "application/json"]);
      }
    }
    if (typeof body === "string") body = encoder.encode(body);
    let response;
    try {
      response = binding.fetch({
        method: (options.method ?? "GET").toUpperCase(),
        url,
        headers: headers.map(([k, v]) => [String(k), String(v)]),
        body,
        timeoutMs: options.timeoutMs,
        followRedirects: options.followRedirects ?? true,
      });
    } catch (err) {
      const variant = variantOf(err);
      if (variant) throw new HttpError(variant.tag, variant.val);
      throw err;
    }
    return new Response(response.status, response.headers, response.body, response.finalUrl);
  },

  get(url, options = {}) {
    return http.fetch(url, { ...options, method: "GET" });
  },

  post(url, options = {}) {
    return http.fetch(url, { ...options, method: "POST" });
  },
};

/** A refused key-value operation. `kind` is `denied`, `quota-exceeded`, `too-large` or `other`. */
export class KvError extends Error {
  constructor(kind, detail) {
    super(`key-value store: ${kind}: ${detail}`);
    this.name = "KvError";
    this.kind = kind;
    this.detail = detail;
  }
}

function kvCall(fn, ...args) {
  const binding = need("kv");
  try {
    return binding[fn](...args);
  } catch (err) {
    const variant = variantOf(err);
    if (variant) throw new KvError(variant.tag, variant.val);
    throw err;
  }
}

/** `chitin:plugin/kv`: the plugin's own namespace, bounded by the granted quota. */
export const kv = {
  /** The value's bytes, or undefined. */
  get(key) {
    return kvCall("get", key) ?? undefined;
  },
  getText(key) {
    const value = kv.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  },
  getJson(key) {
    const value = kv.getText(key);
    return value === undefined ? undefined : JSON.parse(value);
  },
  /** Stores a string (as UTF-8) or bytes. */
  set(key, value) {
    kvCall("set", key, typeof value === "string" ? encoder.encode(value) : value);
  },
  setJson(key, value) {
    kv.set(key, JSON.stringify(value));
  },
  /** Whether the key existed. */
  delete(key) {
    return kvCall("delete", key);
  },
  listKeys(prefix = "", limit = 1000) {
    return kvCall("listKeys", prefix, limit);
  },
};

/** `chitin:plugin/config`: non-secret values the operator set, for keys the manifest declares. */
export const config = {
  /** The value the operator set, else `fallback` (also outside the sandbox, where none is set). */
  get(key, fallback = undefined) {
    if (!host) return fallback;
    return need("config").get(key) ?? fallback;
  },
  keys() {
    return need("config").listKeys();
  },
};

export const secrets = {
  /**
   * Whether the operator stored and granted the secret (its value never enters the sandbox:
   * write `secretPlaceholder(name)` where it goes).
   */
  exists(name) {
    return need("secrets").exists(name);
  },
};

/**
 * `{{secret:NAME}}`: the host replaces it with the secret's value at the network edge, only in
 * the places the manifest allows and only for the hosts the secret may reach.
 */
export function secretPlaceholder(name) {
  return `{{secret:${name}}}`;
}

/**
 * What is left of the current call's budgets (`chitin:plugin/budget`, from WIT 0.2.0;
 * undefined when the plugin is built against an older contract).
 */
export const budget = {
  remainingMs() {
    return host && host.budget ? Number(host.budget.remainingMs()) : undefined;
  },
  remainingHttpRequests() {
    return host && host.budget ? host.budget.remainingHttpRequests() : undefined;
  },
};
