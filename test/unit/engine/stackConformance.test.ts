import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { remote } from "@pulumi/command";
import { MemoryStack } from "../../../harness/memoryStack";
import type { StackHandle } from "../../../ops/stackHandle";
import { PASSPHRASE, conn, world, World } from "./fixture";

/*
 * The Automation API's Stack as the file backend answers it, for the stand-ins: the
 * EngineStack over the stand-in engine, and the tests' MemoryStack.
 * - `stack history`: no version number on the file backend (diy/backend.go:1370-1382), newest
 *   first, 10 a page unless paged (stack_history.go:130-133; automation/stack.js:1206-1224),
 *   secret config values shown by default and withheld with showSecrets false.
 * - config lives in the working directory's stack file; `config set --path` types leaves and
 *   replaces a first-level scalar with a map (config/map.go:238-249, object.go:295-299).
 */

let w: World;
// Hooks at the root run around every test of the run, not only this file's: each scratch world is for this file's tests.
const ours = (ctx: Mocha.Context) => ctx.currentTest?.file === __filename;
beforeEach(function () {
  if (ours(this)) w = world();
});
afterEach(function () {
  if (ours(this)) w.cleanup();
});

const program = async () => {
  new remote.Command("a", { connection: conn(), create: "true" });
  return {};
};

async function twelveUpdates(stack: StackHandle): Promise<void> {
  await stack.setConfig("wepppy-cicd:token", { value: "s3cr3t-token", secret: true });
  for (let i = 0; i < 12; i++) {
    await stack.setConfig("wepppy-cicd:n", { value: String(i) });
    await stack.up({ message: `update ${i}` });
  }
}

const implementations: Array<[string, (world: World) => StackHandle]> = [
  ["EngineStack", (world) => world.stack(program)],
  ["MemoryStack", () => new MemoryStack("dev", { config: {} })],
];

for (const [name, make] of implementations) {
  describe(`${name}: history as the file backend gives it`, () => {
    // One stack with twelve updates, read by each test below (history only reads).
    let own: World | undefined;
    let stack: StackHandle;
    before(async () => {
      own = world();
      stack = make(own);
      await twelveUpdates(stack);
    });
    after(() => own?.cleanup());

    it("has no version number on any entry (every one reads 0)", async () => {
      const all = await stack.history(100);
      assert.equal(all.length, 12);
      assert.deepEqual([...new Set(all.map((e) => e.version))], [0]);
    });

    it("gives the newest 10 unless asked for a page size, newest first", async () => {
      const first = await stack.history();
      assert.equal(first.length, 10);
      assert.deepEqual(first.map((e) => e.message).slice(0, 2), ["update 11", "update 10"]);
      const page2 = await stack.history(5, 3);
      assert.deepEqual(page2.map((e) => e.message), ["update 1", "update 0"]);
    });

    it("shows secret config values by default and withholds them with showSecrets false", async () => {
      const [shown] = await stack.history(1);
      assert.equal(shown.config["wepppy-cicd:token"].value, "s3cr3t-token");
      const [hidden] = await stack.history(1, 1, false);
      assert.deepEqual(hidden.config["wepppy-cicd:token"], { secret: true });
      assert.equal(hidden.config["wepppy-cicd:n"].value, "11");
    });
  });
}

describe("EngineStack: config in the working directory's stack file", () => {
  it("--path types leaves and replaces a section written whole as a string (the COMPAT rule)", async () => {
    const stack = w.stack(program);
    await stack.setAllConfig({ "wepppy-cicd:bluegreen": { value: JSON.stringify({ enabled: true, warmSeconds: 10 }) } });
    await stack.setConfig("wepppy-cicd:bluegreen.live", { value: "green" }, true);
    assert.deepEqual(JSON.parse((await stack.getAllConfig())["wepppy-cicd:bluegreen"].value), { live: "green" });
    await stack.setConfig("wepppy-cicd:bluegreen.warmSeconds", { value: "30" }, true);
    await stack.setConfig("wepppy-cicd:bluegreen.enabled", { value: "true" }, true);
    assert.deepEqual(JSON.parse((await stack.getAllConfig())["wepppy-cicd:bluegreen"].value), { live: "green", warmSeconds: 30, enabled: true });
  });

  it("keeps a secret only encrypted in the stack file, the checkpoint and the history", async () => {
    const stack = w.stack(program);
    await stack.setConfig("wepppy-cicd:secrets.flask_secret_key", { value: "PLAINTEXT-NEVER-AT-REST", secret: true }, true);
    await stack.up();
    const files = [stack instanceof Object ? (stack as { stackFile: string }).stackFile : "", ...walk(w.backend.dir)];
    for (const f of files) assert.ok(!fs.readFileSync(f, "utf8").includes("PLAINTEXT-NEVER-AT-REST"), `${f} holds the secret in plain text`);
    assert.equal((await stack.getAllConfig())["wepppy-cicd:secrets"].secret, true);
    assert.match(fs.readFileSync((stack as unknown as { stackFile: string }).stackFile, "utf8"), /encryptionsalt: v1:/);
  });

  it("refuses a wrong passphrase instead of reading garbage", async () => {
    const stack = w.stack(program);
    await stack.setConfig("wepppy-cicd:token", { value: "x", secret: true });
    const other = new (Object.getPrototypeOf(stack).constructor)("dev", { workDir: w.workDir, backend: w.backend, executor: w.host, passphrase: () => `${PASSPHRASE}-wrong`, invoke: async () => ({}) }) as StackHandle;
    await assert.rejects(other.getAllConfig(), /incorrect passphrase/);
  });
});

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
}
