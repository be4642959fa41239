import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inspect } from "node:util";
import type { ConfigMap, Stack } from "@pulumi/pulumi/automation";
import { formatAdopt } from "../../cli/adopt";
import { NAMESPACE } from "../../config/environments";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { MemoryStack } from "../../harness/memoryStack";
import { AdoptResult, HostRunner, adopt } from "../../ops/adopt";
import { configMapFromRaw } from "../../ops/configMap";
import { PulumiCliStack, StackHandle } from "../../ops/stackHandle";
import { discoverCommand, projectFilesCommand } from "../../render/adoptCommands";
import { secretsInDirectory } from "../../render/composeFile";
import { ISSUED_ELSEWHERE } from "../../render/composeLayout";
import { readComposeDocument } from "../../render/composeFile";
import { stackConfig } from "./helpers";

/*
 * `wepppy-cicd adopt`'s orchestration (ops/adopt.ts) against a host runner that answers the
 * two discovery commands from recorded text: the container and volume listing a rig host gave
 * after `rig seed-legacy` (wepppy's prod compose started by compose 1.29 with -p wepppy, as wctl
 * does; test/fixtures/adopt/), and the project's files as the file-read script prints them
 * (its framing is run under real bash in adoptCommands.test.ts), made of wepppy's reference
 * docker-compose.prod.yml, a wctl .env and one secret file per `./secrets/` entry. The stack
 * is testprod's committed stack file in memory (MemoryStack: `config set --path` semantics).
 */

const DIR = "/workdir/wepppy/docker";
const PROD = "docker-compose.prod.yml";
const SECRETS = `${NAMESPACE}:secrets`;
const DISCOVERY_V1 = fs.readFileSync(path.join(PROJECT_ROOT, "test/fixtures/adopt/discovery-compose-v1.txt"), "utf8");
const SECRET_NAMES = secretsInDirectory(readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, PROD))).map((s) => s.name);

/** Each secret as wctl leaves it: generated ones hex with a newline, third-party ones pasted without. Recognisable, so a leak is found. */
function hostSecret(name: string): string {
  const tag = Buffer.from(name).toString("hex").slice(0, 24);
  return ISSUED_ELSEWHERE.has(name) ? `pasted-${tag}-SECRETVALUE` : `${tag}0123456789abcdef-SECRETVALUE\n`;
}

const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64");

function fileLine(kind: string, file: string, content: string | Buffer, mode = "600"): string {
  const bytes = Buffer.from(content);
  return [kind, b64(file), "file", mode, "1000", "993", String(bytes.length), bytes.toString("base64")].join("\t");
}

interface HostFiles {
  env?: string;
  compose?: Record<string, string>;
  secrets?: Record<string, string | Buffer>;
}

/** What PROJECT_FILES_SCRIPT prints for such a directory (no git on the host: no checkout line). */
function projectFilesText(files: HostFiles): string {
  const compose = files.compose ?? { [PROD]: fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, PROD), "utf8") };
  const secrets = files.secrets ?? Object.fromEntries(SECRET_NAMES.map((n) => [n, hostSecret(n)]));
  return [
    files.env === undefined ? `env\t${b64(`${DIR}/.env`)}\tmissing` : fileLine("env", `${DIR}/.env`, files.env, "644"),
    ...Object.entries(compose).map(([name, text]) => fileLine("compose", `${DIR}/${name}`, text, "644")),
    ...Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b)).map(([name, bytes]) => fileLine("secret", `${DIR}/secrets/${name}`, bytes)),
    "end",
    "",
  ].join("\n");
}

/** A host that answers only the two read commands adopt may run; everything else is refused and recorded. */
function fakeHost(opts: { discovery?: string; files?: HostFiles; configFiles?: string[]; fail?: { code: number; stderr: string } } = {}): HostRunner & { commands: string[] } {
  const commands: string[] = [];
  const configFiles = opts.configFiles ?? [`${DIR}/${PROD}`];
  return {
    name: "roger@forest1",
    commands,
    run: async (command) => {
      commands.push(command);
      if (opts.fail) return { code: opts.fail.code, stdout: "", stderr: opts.fail.stderr };
      if (command === discoverCommand()) return { code: 0, stdout: opts.discovery ?? DISCOVERY_V1, stderr: "" };
      if (command === projectFilesCommand(DIR, configFiles)) return { code: 0, stdout: projectFilesText(opts.files ?? { env: "UID=1000\nGID=993\n" }), stderr: "" };
      return { code: 127, stdout: "", stderr: "not a command adopt may run" };
    },
  };
}

/** The stack handle, with every write recorded as it reached the port: keys, secret flags, path flag. */
class Recording implements StackHandle {
  readonly writes: Array<{ config: ConfigMap; path?: boolean }> = [];
  constructor(readonly inner: MemoryStack) {}
  get name() {
    return this.inner.name;
  }
  getAllConfig() {
    return this.inner.getAllConfig();
  }
  async setAllConfig(config: ConfigMap, path?: boolean) {
    this.writes.push({ config: structuredClone(config), path });
    return this.inner.setAllConfig(config, path);
  }
  async setConfig(key: string, value: ConfigMap[string], path?: boolean) {
    this.writes.push({ config: { [key]: value }, path });
    return this.inner.setConfig(key, value, path);
  }
  async removeConfig(key: string, path?: boolean): Promise<void> {
    throw new Error(`adopt removed ${key}${path ? " (path)" : ""}: it must only set`);
  }
  up(): never {
    throw new Error("adopt ran an update");
  }
  preview(): never {
    throw new Error("adopt ran a preview");
  }
  cancel(): never {
    throw new Error("adopt cancelled an update");
  }
  history() {
    return this.inner.history();
  }
  outputs() {
    return this.inner.outputs();
  }
}

function testprod(): Recording {
  return new Recording(new MemoryStack("testprod", { config: configMapFromRaw(stackConfig("testprod")) }));
}

/** Every way a result reaches a person or a program: JSON, the human lines, inspect, the progress lines. */
function everythingPrinted(result: AdoptResult, log: string[]): string {
  return [JSON.stringify(result), formatAdopt(result).join("\n"), inspect(result, { depth: 10 }), log.join("\n")].join("\n");
}

/** Fails naming the secret (not its value) that is found in `text`. */
function assertNoSecretIn(text: string, names = SECRET_NAMES): void {
  const leaked = names.filter((n) => text.includes(hostSecret(n).trim()));
  assert.deepEqual(leaked, [], `secret values printed: ${leaked.join(", ")}`);
}

const secretsOf = (stack: Recording) => JSON.parse(stack.inner.config[SECRETS].value) as Record<string, string>;

describe("ops: adopt (what a host runs today, into the stack's config)", () => {
  it("stores every secret as secret config byte for byte, and the rest as plain leaves, path-wise, running only the two read commands", async () => {
    const stack = testprod();
    const host = fakeHost();
    const before = structuredClone(stack.inner.config);
    const log: string[] = [];
    const result = await adopt({ stack, host, log: (l) => log.push(l) });
    assert.equal(result.ok, true, result.error);
    assert.equal(result.changed, true);
    assert.deepEqual(host.commands, [discoverCommand(), projectFilesCommand(DIR, [`${DIR}/${PROD}`])], "adopt ran something but the two read commands");

    // One set-all, path-wise: plain leaves as plaintext, each secret its own --secret leaf.
    assert.equal(stack.writes.length, 1);
    const [write] = stack.writes;
    assert.equal(write.path, true);
    const plain = Object.entries(write.config).filter(([, v]) => !v.secret).map(([k, v]) => [k, v.value]);
    assert.deepEqual(plain, [
      [`${NAMESPACE}:compose.projectDir`, DIR],
      [`${NAMESPACE}:runAs.gid`, "993"],
      [`${NAMESPACE}:runAs.uid`, "1000"],
    ]);
    const secretKeys = Object.entries(write.config).filter(([, v]) => v.secret).map(([k]) => k).sort();
    assert.deepEqual(secretKeys, [...SECRET_NAMES].sort().map((n) => `${SECRETS}.${n}`));
    for (const n of SECRET_NAMES) assert.equal(write.config[`${SECRETS}.${n}`].value, hostSecret(n), `${n} went to the port changed`);

    // What the stack now holds: the secrets section is secret, each value byte for byte (trailing newline and all).
    const after = stack.inner.config;
    assert.equal(after[SECRETS].secret, true);
    assert.deepEqual(secretsOf(stack), Object.fromEntries(SECRET_NAMES.map((n) => [n, hostSecret(n)])));
    assert.deepEqual(JSON.parse(after[`${NAMESPACE}:runAs`].value), { uid: 1000, gid: 993 });
    assert.equal(JSON.parse(after[`${NAMESPACE}:compose`].value).projectDir, DIR);
    assert.equal(after[`${NAMESPACE}:compose`].secret, false);
    for (const key of Object.keys(before).filter((k) => ![SECRETS, `${NAMESPACE}:runAs`, `${NAMESPACE}:compose`].includes(k))) {
      assert.deepEqual(after[key], before[key], `${key} changed`);
    }

    assert.deepEqual(result.project, { name: "wepppy", workingDir: DIR, configFiles: [PROD] });
    assert.ok(result.plan.includes("project name wepppy (same as wctl)"), result.plan.join("\n"));
    assert.ok(result.plan.includes("keeps volume wepppy_postgres-data (postgres)"), result.plan.join("\n"));
    assert.ok(result.plan.includes(`writes no secret that differs from the host's (all ${SECRET_NAMES.length} adopted byte for byte)`), result.plan.join("\n"));
    assert.ok(!result.plan.some((l) => l.startsWith("secret files become")), "the stack writes secret files as the adopted UID:GID, 0600, as they are today");
    assert.deepEqual(result.blocking, []);
  });

  it("prints no secret value: not in the JSON, the human lines, inspect or the progress lines", async () => {
    const log: string[] = [];
    const result = await adopt({ stack: testprod(), host: fakeHost(), log: (l) => log.push(l) });
    assert.equal(result.stored.secrets.length, SECRET_NAMES.length);
    assert.deepEqual(Object.keys(result.stored.secrets[0]).sort(), ["from", "key", "name"]);
    assertNoSecretIn(everythingPrinted(result, log));
  });

  it("the leak check finds a value that is printed (the check can fail)", () => {
    assert.throws(() => assertNoSecretIn(`progress: ${hostSecret("postgres_password")}`), /secret values printed: postgres_password/);
  });

  it("stores the same when adopting twice: the second time nothing is written", async () => {
    const stack = testprod();
    await adopt({ stack, host: fakeHost() });
    const once = structuredClone(stack.inner.config);
    const again = await adopt({ stack, host: fakeHost() });
    assert.equal(again.ok, true, again.error);
    assert.equal(again.changed, false);
    assert.equal(stack.writes.length, 1, "the second adopt wrote");
    assert.deepEqual(again.stored, { config: [], secrets: [] });
    assert.deepEqual(stack.inner.config, once);
    assert.match(again.summary, /adopted already; nothing to store/);
  });

  it("reads compose v2's labels (absolute -f paths, dashed names) the same", async () => {
    const v2 = DISCOVERY_V1.replace(/"com\.docker\.compose\.project\.config_files":"docker-compose\.prod\.yml"/g, `"com.docker.compose.project.config_files":"${DIR}/${PROD}"`).replace(/"\/wepppy_([a-z0-9-]+)_1"/g, '"/wepppy-$1-1"');
    assert.notEqual(v2, DISCOVERY_V1);
    const stack = testprod();
    const result = await adopt({ stack, host: fakeHost({ discovery: v2 }) });
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(result.project, { name: "wepppy", workingDir: DIR, configFiles: [PROD] });
    assert.deepEqual(secretsOf(stack), Object.fromEntries(SECRET_NAMES.map((n) => [n, hostSecret(n)])));
  });

  it("stores nothing in a dry run, and says what it would store", async () => {
    const stack = testprod();
    const result = await adopt({ stack, host: fakeHost(), dryRun: true });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.equal(stack.writes.length, 0);
    assert.equal(result.stored.secrets.length, SECRET_NAMES.length);
    assert.match(formatAdopt(result)[0], /would adopt forest1\.bearhive\.internal's wepppy/);
  });

  describe("refuses, storing nothing", () => {
    it("when the first up would lose data: Postgres runs on its volume and no password is there to adopt", async () => {
      const stack = testprod();
      const secrets = Object.fromEntries(SECRET_NAMES.filter((n) => n !== "postgres_password").map((n) => [n, hostSecret(n)]));
      const log: string[] = [];
      const result = await adopt({ stack, host: fakeHost({ files: { env: "UID=1000\nGID=993\n", secrets } }), log: (l) => log.push(l) });
      assert.equal(result.ok, false);
      assert.equal(stack.writes.length, 0);
      assert.deepEqual(result.blocking, [
        "the host runs postgres with volume wepppy_postgres-data but no postgres_password was found (secrets/postgres_password or .env POSTGRES_PASSWORD): a generated password would not open its data",
      ]);
      assert.match(result.summary, /adopt refused, nothing stored/);
      assert.match(result.error!, /no postgres_password was found/);
      assert.match(result.hint!, /do not run `pulumi up`/);
      assertNoSecretIn(everythingPrinted(result, log));
    });

    it("(not refused) the host's .env values the release reads are adopted as plain compose.env leaves", async () => {
      const stack = testprod();
      const env = "UID=1000\nGID=993\nCAP_SITE_KEY=site-key-1\nOAUTH_GITHUB_CLIENT_ID=gh-client\n";
      const result = await adopt({ stack, host: fakeHost({ files: { env } }) });
      assert.equal(result.ok, true, result.error);
      const written = stack.writes.flatMap((w) => Object.entries(w.config));
      const cap = written.find(([k]) => k === `${NAMESPACE}:compose.env.CAP_SITE_KEY`);
      assert.deepEqual(cap?.[1], { value: "site-key-1", secret: false });
      assertNoSecretIn(everythingPrinted(result, []));
    });

    it("when a value the host's .env holds cannot be kept in an env file as written", async () => {
      const stack = testprod();
      const env = "UID=1000\nGID=993\nCAP_SITE_KEY=site key with spaces\n";
      const result = await adopt({ stack, host: fakeHost({ files: { env } }) });
      assert.equal(result.ok, false);
      assert.equal(stack.writes.length, 0);
      assert.ok(result.blocking.some((b) => /compose\.env\.CAP_SITE_KEY/.test(b)), result.blocking.join("\n"));
      assertNoSecretIn(everythingPrinted(result, []));
    });

    it("when the host cannot be read, or its answer is cut off; the error carries no secret", async () => {
      for (const host of [
        fakeHost({ fail: { code: 1, stderr: "permission denied while trying to connect to the Docker daemon socket" } }),
        { ...fakeHost(), run: async (c: string) => (c === discoverCommand() ? { code: 0, stdout: DISCOVERY_V1, stderr: "" } : { code: 0, stdout: projectFilesText({ env: "" }).replace(/end\n$/, ""), stderr: "" }) },
      ]) {
        const stack = testprod();
        await assert.rejects(adopt({ stack, host }), (err: Error) => {
          assert.match(err.message, /the discovery failed: permission denied|cut off/);
          assertNoSecretIn(err.message);
          return true;
        });
        assert.equal(stack.writes.length, 0);
      }
    });
  });
});

describe("ops: a real stack's secrets reach pulumi on stdin, never on its command line", () => {
  let dir: string;
  let fake: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-pulumi-"));
    fake = path.join(dir, "pulumi");
    // Records its argv (NUL-separated) and stdin; fails when asked to, echoing its stdin as a careless CLI might.
    fs.writeFileSync(fake, `#!/bin/bash\nprintf '%s\\0' "$@" >>"$FAKE_LOG.argv"; printf '\\n' >>"$FAKE_LOG.argv"; cat >>"$FAKE_LOG.stdin"\nif [ -n "\${FAKE_FAIL:-}" ]; then echo "error: could not set: $(cat "$FAKE_LOG.stdin")" >&2; exit 3; fi\n`, { mode: 0o755 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function fakeStack(env: Record<string, string>) {
    const plainSets: Array<{ config: ConfigMap; path?: boolean }> = [];
    const stack = {
      name: "testprod",
      workspace: { workDir: dir, envVars: env, pulumiHome: undefined, pulumiCommand: { command: fake } },
      setAllConfig: async (config: ConfigMap, path?: boolean) => void plainSets.push({ config, path }),
      setConfig: async () => assert.fail("the Automation API's setConfig was used"),
    };
    return { handle: new PulumiCliStack(stack as unknown as Stack), plainSets };
  }

  it("sets plain leaves through the Automation API and each secret with `config set --path --secret KEY` and its value (plus the newline pulumi drops) on stdin", async () => {
    const log = path.join(dir, "ok");
    const { handle, plainSets } = fakeStack({ FAKE_LOG: log });
    const value = hostSecret("postgres_password");
    await handle.setAllConfig({ [`${NAMESPACE}:runAs.uid`]: { value: "1000", secret: false }, [`${SECRETS}.postgres_password`]: { value, secret: true } }, true);
    assert.deepEqual(plainSets, [{ config: { [`${NAMESPACE}:runAs.uid`]: { value: "1000", secret: false } }, path: true }]);
    const argv = fs.readFileSync(`${log}.argv`, "utf8").split("\n").filter(Boolean).map((l) => l.split("\0").filter(Boolean));
    assert.deepEqual(argv, [["config", "set", "--stack", "testprod", "--path", "--secret", "--non-interactive", "--", `${SECRETS}.postgres_password`]]);
    assert.equal(fs.readFileSync(`${log}.stdin`, "utf8"), `${value}\n`);
    assertNoSecretIn(fs.readFileSync(`${log}.argv`, "utf8"));
  });

  it("fails naming the key, with the value taken out of what pulumi printed", async () => {
    const { handle } = fakeStack({ FAKE_LOG: path.join(dir, "fail"), FAKE_FAIL: "1" });
    await assert.rejects(handle.setConfig(`${SECRETS}.redis_password`, { value: hostSecret("redis_password"), secret: true }, true), (err: Error) => {
      assert.match(err.message, /pulumi config set --secret wepppy-cicd:secrets\.redis_password exited 3: error: could not set: \[secret\]/);
      assertNoSecretIn(err.message);
      return true;
    });
  });
});
