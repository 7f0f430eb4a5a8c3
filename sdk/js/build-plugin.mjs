// Bundles a JavaScript plugin with the SDK and turns it into a WebAssembly component.
// Run by build-plugin.sh from the toolchain directory (target/sdk-node), whose node_modules
// holds the pinned rolldown, componentize-js and jco.
//
//   node build-plugin.mjs --plugin DIR --sdk DIR --wit DIR --wit-version X.Y.Z --world W
//                         --stage DIR --out FILE

import { cp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { componentize } from "@bytecodealliance/componentize-js";
import { componentWit } from "@bytecodealliance/jco";
import { rolldown } from "rolldown";

const { values: opts } = parseArgs({
  options: {
    plugin: { type: "string" },
    sdk: { type: "string" },
    wit: { type: "string" },
    "wit-version": { type: "string" },
    world: { type: "string" },
    stage: { type: "string" },
    out: { type: "string" },
  },
});
for (const name of ["plugin", "sdk", "wit", "wit-version", "world", "stage", "out"]) {
  if (!opts[name]) fail(`missing --${name}`);
}

function fail(message) {
  console.error(`build-plugin.mjs: ${message}`);
  process.exit(1);
}

const pluginDir = resolve(opts.plugin);
const stage = resolve(opts.stage);
const version = opts["wit-version"];
const world = opts.world;

// The export each world's interface becomes in JS.
const EXPORT_NAMES = {
  "tool-plugin": "tool",
  "provider-plugin": "provider",
  "channel-plugin": "channel",
  "mcp-bridge-plugin": "mcpServer",
};
const exportName = EXPORT_NAMES[world];
if (!exportName) fail(`unknown world ${world}`);

// The host interfaces every world of this WIT version imports (`world host-imports { ... }`).
const worlds = await readFile(join(opts.wit, "worlds.wit"), "utf8");
const block = /world\s+host-imports\s*\{([^}]*)\}/.exec(worlds);
if (!block) fail(`${opts.wit}/worlds.wit has no host-imports world`);
const hostInterfaces = [...block[1].matchAll(/^\s*import\s+([a-z][a-z0-9-]*)\s*;/gm)].map((m) => m[1]);

await rm(stage, { recursive: true, force: true });
await mkdir(join(stage, "wit"), { recursive: true });
// componentize-js reads the WIT from inside its working directory: copy it into the stage.
for (const file of await readdir(opts.wit)) {
  if (file.endsWith(".wit")) await cp(join(opts.wit, file), join(stage, "wit", file));
}

// The entry module: imports the host interfaces, hands them to the SDK and re-exports the app.
// Host modules are named with this build's WIT version (componentize-js wants it), so plugin
// code may import "chitin:plugin/kv" without one.
const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
const ENTRY = "\0chitin-entry";
const entryCode = [
  ...hostInterfaces.map((name, i) => `import * as host${i} from "chitin:plugin/${name}";`),
  `import { bindHost } from "chitin-sdk";`,
  `bindHost({ ${hostInterfaces.map((name, i) => `${JSON.stringify(camel(name))}: host${i}`).join(", ")} });`,
  `export * from ${JSON.stringify(join(pluginDir, "app.js"))};`,
].join("\n");

const chitinPlugin = {
  name: "chitin",
  resolveId(source) {
    if (source === ENTRY) return ENTRY;
    if (source === "chitin-sdk") return join(resolve(opts.sdk), "src", "chitin-sdk.js");
    const wit = /^chitin:plugin\/([a-z][a-z0-9-]*)(@[0-9.]+)?$/.exec(source);
    if (wit) return { id: `chitin:plugin/${wit[1]}@${version}`, external: true };
    if (source.startsWith("wasi:http")) {
      this.error(
        `${source}: Chitin gives plugins no wasi:http; make requests with http.fetch from "chitin-sdk", ` +
          `which the operator's grant governs`,
      );
    }
    if (/^[a-z][a-z0-9-]*:/.test(source) && !source.startsWith("node:")) {
      this.error(`${source}: a plugin can import only chitin:plugin interfaces (and "chitin-sdk")`);
    }
    return null;
  },
  load(id) {
    return id === ENTRY ? entryCode : null;
  },
};

const bundleFile = join(stage, "bundle.js");
const bundle = await rolldown({
  input: ENTRY,
  plugins: [chitinPlugin],
  platform: "neutral",
  logLevel: "warn",
});
const { output } = await bundle.write({ file: bundleFile, format: "esm" });
await bundle.close();
const entryChunk = output.find((o) => o.type === "chunk" && o.isEntry);
if (!entryChunk.exports.includes(exportName)) {
  fail(
    `${pluginDir}/app.js must export \`${exportName}\` (the ${world.replace(/-plugin$/, "")} ` +
      `interface), e.g. \`export const ${exportName} = exportTools({...})\``,
  );
}

console.error(`componentize-js: ${world}, chitin:plugin@${version}`);
// componentize-js maps its working directory into the engine while it pre-initializes.
process.chdir(stage);
let component;
try {
  ({ component } = await componentize({
    sourcePath: bundleFile,
    witPath: join(stage, "wit"),
    worldName: world,
    // No wasi:http: the host refuses it (all egress goes through chitin:plugin/http).
    disableFeatures: ["http", "fetch-event"],
  }));
} catch (err) {
  fail(`componentize-js failed:\n${err.message ?? err}`);
}

// Check what the component imports, as the host will.
const wit = await componentWit(component);
await writeFile(join(stage, "component.wit"), wit);
if (/^\s*import wasi:http\//m.test(wit)) {
  fail(`the component imports wasi:http, which Chitin refuses (see ${stage}/component.wit)`);
}
await writeFile(resolve(opts.out), component);
