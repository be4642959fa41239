import { strict as assert } from "node:assert";
import { hostLayout } from "../../host/contract/layout";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, HostStatus } from "../../host/contract/records";
import { runCli } from "../../host/agent/commands";
import { detachedArgs, runtimeFromEnv } from "../../host/agent/launcher";
import { A, B, CLIENT_PID, FakeHost } from "./fixtures/fakeHost";
import { requireCondition } from "../support/tools";

/*
 * The agent's command line (one function from argv to an exit code) on a host in memory,
 * and the shell that stays: the bootstrap and the root helper.
 */

describe("agent: commands", () => {
  let host: FakeHost;
  beforeEach(() => {
    host = new FakeHost({ bluegreen: true });
  });
  afterEach(() => host.cleanup());

  it("status is one HostStatus object read from the host", async () => {
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage()));
    await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    const r = await host.cli(["status"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const s = JSON.parse(r.out[0]) as HostStatus;
    assert.equal(s.liveImage, B);
    assert.deepEqual([s.bluegreen!.traffic, s.bluegreen!.live], ["green", "green"]);
    assert.deepEqual([s.bluegreen!.colours.blue.image, s.bluegreen!.colours.blue.running, s.bluegreen!.colours.green.health], [A, true, "healthy"]);
    assert.ok(s.bluegreen!.retireAt.blue, "blue is due to retire");
    assert.equal(s.lock.state, "unlocked");
    assert.equal(s.lastVerdict!.image, B);
    assert.equal(s.lastDeploy!.image, B);
    assert.equal(s.current!.image, B);
  });

  it("calls a lock whose process is gone stale; break-lock removes it and audits the holder", async () => {
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    fs.mkdirSync(host.layout.lockDir);
    fs.writeFileSync(host.layout.lockHolder, JSON.stringify({ who: "ci", action: "restore", since: "2026-11-25T09:00:00Z", pid: 999999, start: 1, bootId: "boot-1" }));
    assert.match((await host.cli(["lock-status"])).out[0], /^stale: restore by ci since 2026-11-25T09:00:00Z \(pid 999999\)/);
    const refused = await host.deploy(host.request(A, host.stage(), { release: { id: "r-2" } }));
    assert.equal(refused.code, EXIT.locked);
    assert.match(refused.err.join("\n"), /stale lock: restore by ci.*then run: wepppy-deploy break-lock/);
    assert.equal((await host.cli(["break-lock"])).code, 0);
    assert.equal((await host.cli(["lock-status"])).out[0], "unlocked");
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.holder?.pid], ["break-lock", 999999]);
  });

  it("refuses a live holder's lock to break-lock", async () => {
    fs.mkdirSync(host.layout.root, { recursive: true });
    fs.mkdirSync(host.layout.lockDir);
    fs.writeFileSync(host.layout.lockHolder, JSON.stringify({ who: "ci", action: "deploy", since: "x", pid: CLIENT_PID, start: 4242, bootId: "boot-1" }));
    const r = await host.cli(["break-lock"]);
    assert.equal(r.code, 1);
    assert.match(r.err.join("\n"), /held by a running deploy by ci/);
    assert.ok(host.locked());
  });

  it("usage errors exit 2 with one line; a bad request names its keys and changes nothing", async () => {
    assert.equal((await host.cli(["destroy"])).code, EXIT.usage);
    assert.equal((await host.cli(["switch", host.layout.markerDir, "canary-green-33"])).code, EXIT.usage);
    const bad = await host.cli(["deploy"], JSON.stringify({ version: 1, image: "x", releaseKey: "../../etc" }));
    assert.equal(bad.code, EXIT.usage);
    assert.match(bad.err.join("\n"), /releaseKey: expected a release key/);
    assert.match(bad.err.join("\n"), /nothing was changed/);
    assert.equal(fs.existsSync(host.layout.runsDir), false);
  });

  it("the audit log is JSON lines of records", async () => {
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    const lines = (await host.cli(["audit", "-n", "5"])).out[0].split("\n");
    assert.equal(JSON.parse(lines[0]).action, "deploy");
  });
});

describe("the shell that stays", () => {
  const HOST = path.resolve(__dirname, "..", "..", "host");
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bootstrap-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The bootstrap with a `docker` on PATH that prints the argv it was given. */
  function bootstrap(conf: string, ...args: string[]): { code: number; argv: string[]; stderr: string } {
    return bootstrapWith({}, conf, ...args);
  }

  function bootstrapWith(env: Record<string, string>, conf: string, ...args: string[]): { code: number; argv: string[]; stderr: string } {
    const root = path.join(dir, "root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "etc"), { recursive: true });
    fs.copyFileSync(path.join(HOST, "wepppy-deploy.sh"), path.join(root, "bin", "wepppy-deploy"));
    fs.writeFileSync(path.join(root, "bin", "wepppy-agent.js"), "");
    fs.writeFileSync(path.join(root, "etc", "agent.conf"), conf);
    fs.mkdirSync(path.join(dir, "fakebin"), { recursive: true });
    fs.writeFileSync(path.join(dir, "fakebin", "docker"), "#!/bin/sh\nprintf '%s\\0' \"$@\"\n", { mode: 0o755 });
    const sock = path.join(dir, "docker.sock");
    if (!fs.existsSync(sock)) execFileSync("python3", ["-c", `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    try {
      const out = execFileSync("bash", [path.join(root, "bin", "wepppy-deploy"), ...args], {
        env: { PATH: `${path.join(dir, "fakebin")}:/usr/bin:/bin`, HOME: dir, WEPPPY_DOCKER_SOCKET: sock, WEPPPY_DOCKER_PLUGIN_DIRS: "/nonexistent/cli-plugins", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      return { code: 0, argv: out.toString().split("\0").slice(0, -1), stderr: "" };
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      return { code: e.status, argv: [], stderr: e.stderr.toString() };
    }
  }

  it("runs the agent in its image with the root and the project's parent mounted at their paths, stdin passed through", () => {
    const r = bootstrap("IMAGE=wepppy-cicd/agent:1\nMOUNT=/opt/wepppy\nPROJECT=/opt/wepppy/docker\n", "status");
    assert.equal(r.code, 0, r.stderr);
    const root = path.join(dir, "root");
    const at = (flag: string) => r.argv.flatMap((a, i) => (a === flag ? [r.argv[i + 1]] : []));
    assert.deepEqual(r.argv.slice(0, 3), ["run", "--rm", "-i"]);
    assert.ok(at("-v").includes(`${root}:${root}`) && at("-v").includes("/opt/wepppy:/opt/wepppy"), at("-v").join(" "));
    assert.deepEqual([at("--pid"), at("--network")], [["host"], ["host"]]);
    assert.ok(at("-e").includes(`WEPPPY_DEPLOY_ROOT=${root}`));
    assert.deepEqual(r.argv.slice(-4), ["wepppy-cicd/agent:1", "node", `${root}/bin/wepppy-agent.js`, "status"]);
  });

  it("mounts the host's docker CLI plugin directories read-only (compose v2), only those that exist, and passes them on to detached runs", () => {
    const plugins = path.join(dir, "cli-plugins");
    fs.mkdirSync(plugins);
    const r = bootstrapWith({ WEPPPY_DOCKER_PLUGIN_DIRS: `/nonexistent/cli-plugins ${plugins}` }, "IMAGE=wepppy-cicd/agent:1\n", "status");
    assert.equal(r.code, 0, r.stderr);
    const at = (flag: string) => r.argv.flatMap((a, i) => (a === flag ? [r.argv[i + 1]] : []));
    assert.ok(at("-v").includes(`${plugins}:${plugins}:ro`), at("-v").join(" "));
    assert.ok(!at("-v").some((v) => v.startsWith("/nonexistent")));
    assert.ok(at("-e").includes(`WEPPPY_AGENT_PLUGIN_DIRS=${plugins}`));
    const env = Object.fromEntries(at("-e").map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    const rt = runtimeFromEnv(env)!;
    assert.ok(detachedArgs(rt, "n", ["run", "x"], "roger").join(" ").includes(`-v ${plugins}:${plugins}:ro`));
  });

  it("reads agent.conf as data: a hostile value is refused, never run", () => {
    const marker = path.join(dir, "pwned");
    const r = bootstrap(`IMAGE=x\nMOUNT=/opt/$(touch ${marker})\n`, "status");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MOUNT is not an absolute plain path/);
    assert.equal(fs.existsSync(marker), false);
  });

  // No shell anywhere builds or matches JSON as text (shellScripts.test.ts); the host's two go further.
  it("the host's shell does not touch JSON at all: the agent reads and writes it", () => {
    for (const f of ["wepppy-deploy.sh", "wepppy-root.sh"]) {
      assert.doesNotMatch(fs.readFileSync(path.join(HOST, f), "utf8"), /json/i, `${f} mentions JSON`);
    }
  });

  /** The root helper installed as the stack installs it, with agent.conf naming the project directory. */
  function rootHelper(): { root: string; project: string; script: string; helper: (args: string[], input: string) => Buffer } {
    const root = path.join(dir, "root");
    const project = path.join(dir, "project");
    const script = path.join(root, "bin", "wepppy-root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.mkdirSync(project, { recursive: true });
    fs.copyFileSync(path.join(HOST, "wepppy-root.sh"), script);
    const helper = (args: string[], input: string) => execFileSync("bash", [script, ...args], { input, stdio: ["pipe", "pipe", "pipe"] });
    helper(["install-file", path.join(root, "etc", "agent.conf")], `IMAGE=x\nPROJECT=${project}\n`);
    return { root, project, script, helper };
  }

  it("the root helper writes secrets owned and moded as asked, with their digests, only under the allowed directories", function () {
    requireCondition(this, process.getuid?.() === 0, "writing files owned by another user needs root", "run the tests as root (CI does)");
    const { root, project, helper } = rootHelper();
    helper(["write-secrets", path.join(project, "secrets"), "33:1234", "0600"], `redis_password ${Buffer.from("s3cret $(x)").toString("base64")}\n`);
    const st = fs.statSync(path.join(project, "secrets", "redis_password"));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [33, 1234, 0o600]);
    assert.equal(fs.readFileSync(path.join(project, "secrets", "redis_password"), "utf8"), "s3cret $(x)");
    assert.match(fs.readFileSync(path.join(project, "secrets", ".sha256sums"), "utf8"), /^[0-9a-f]{64} {2}redis_password\n$/);
    assert.throws(() => helper(["install-file", path.join(dir, "elsewhere", "x")], "x"), /outside the deploy root and the project directory/);
    fs.symlinkSync("/etc", path.join(project, "evil"));
    assert.throws(() => helper(["install-file", path.join(project, "evil", "h10-x")], "x"), /outside the deploy root/);
    assert.equal(fs.existsSync("/etc/h10-x"), false);
    // An older layout's secrets: KEY=value lines, the caller's group only; a value .env would change is refused, and nothing is written.
    helper(["write-env-secrets", path.join(project, "secrets")], "SECRET_KEY=abc123\nPOSTGRES_PASSWORD=Zx9\n");
    // Where the agent reads them (the contract's layout), so the helper and the agent cannot drift apart.
    const env = hostLayout(root, project).envSecrets;
    assert.equal(fs.readFileSync(env, "utf8"), "SECRET_KEY=abc123\nPOSTGRES_PASSWORD=Zx9\n");
    assert.deepEqual([fs.statSync(env).uid, fs.statSync(env).mode & 0o777], [0, 0o640]);
    for (const bad of ["K=$(touch pwned)\n", "K=a b\n", "K='q'\n", "1K=x\n", "K=a#b\n", "no-equals\n"]) {
      assert.throws(() => helper(["write-env-secrets", path.join(project, "secrets")], bad), /line 1 is not NAME=value/, bad);
    }
    assert.equal(fs.readFileSync(env, "utf8"), "SECRET_KEY=abc123\nPOSTGRES_PASSWORD=Zx9\n");
    assert.deepEqual(fs.readdirSync(path.join(project, "secrets")).filter((f) => f.startsWith(".tmp")), []);
  });

  it("the file secrets and the .env secrets written at once on a new host both succeed (both make the directory)", async function () {
    requireCondition(this, process.getuid?.() === 0, "writing files owned by another user needs root", "run the tests as root (CI does)");
    const { project, script } = rootHelper();
    const secrets = path.join(project, "secrets");
    // The stack runs its two secret commands in parallel; on a rebuilt host neither finds secrets/ there.
    const run = (args: string[], input: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn("bash", [script, ...args], { stdio: ["pipe", "ignore", "pipe"] });
        let stderr = "";
        p.stderr.on("data", (d) => (stderr += d));
        p.on("close", (code) => resolve({ code, stderr }));
        p.stdin.end(input);
      });
    for (let round = 0; round < 8; round++) {
      fs.rmSync(secrets, { recursive: true, force: true });
      const both = await Promise.all([
        run(["write-secrets", secrets, "33:1234", "0600"], `redis_password ${Buffer.from("pw").toString("base64")}\n`),
        run(["write-env-secrets", secrets], "SECRET_KEY=abc\n"),
      ]);
      assert.deepEqual(both.map((r) => r.code), [0, 0], `round ${round}: ${both.map((r) => r.stderr).join(" | ")}`);
      assert.equal(fs.readFileSync(path.join(secrets, "redis_password"), "utf8"), "pw");
      assert.equal(fs.readFileSync(path.join(secrets, ".env-secrets"), "utf8"), "SECRET_KEY=abc\n");
    }
  });
});

describe("agent: operations beside deploys", () => {
  let host: FakeHost;
  afterEach(() => host.cleanup());

  it("status shows the run that is going on, with its phase", async () => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage()));
    let release!: () => void;
    host.runnerHook = (e) => (e.phase === "gate" ? new Promise<void>((r) => (release = r)) : undefined);
    const running = host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    while (!release) await new Promise((r) => setImmediate(r));
    host.runnerHook = undefined;
    const s = JSON.parse((await host.cli(["status"])).out[0]) as HostStatus;
    assert.equal(s.lock.state, "held");
    assert.equal(s.run?.phase, "gate");
    release();
    assert.equal((await running).code, 0);
  });

  it("a client whose SSH session is gone stops without taking the verdict: the next client with the request gets it", async () => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    const request = host.request(A, host.stage());
    const gonePid = 777777;
    host.processes.startOf = ((orig) => (pid: number) => (pid === gonePid ? (host.deadPids.has(gonePid) ? null : 99) : orig(pid)))(host.processes.startOf);
    let release!: () => void;
    host.runnerHook = (e) => (e.phase === "smoke" ? new Promise<void>((r) => (release = r)) : undefined);
    const out = { err: [] as string[], out: [] as string[] };
    const client = { ...host.agent(out), clientPid: gonePid };
    const first = runCli(client, ["deploy"], async () => JSON.stringify(request));
    while (!release) await new Promise((r) => setImmediate(r));
    host.runnerHook = undefined;
    host.deadPids.add(gonePid);
    release();
    assert.equal(await first, EXIT.failed);
    assert.deepEqual(out.out, [], "no verdict printed to a client that is gone");
    assert.match(out.err.join("\n"), /the client that started this command is gone/);
    host.runnerHook = undefined;
    await Promise.all(host.runs);
    const again = await host.deploy(request);
    assert.equal(again.code, 0);
    assert.match(again.err.join("\n"), /no client received its verdict: here it is/);
    assert.equal(host.detached.filter((d) => d.argv[0] === "run").length, 1);
  });

  it("a one-colour rollback by hand deploys the previous release again, its image and its files", async () => {
    host = new FakeHost();
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage({ compose: "# A\n" })));
    await host.deploy(host.request(B, host.stage({ compose: "# B\n" }), { release: { id: "r-2" } }));
    assert.equal(host.container("weppcloud")!.image, B);
    const r = await host.cli(["rollback", "--actor", "roger"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.equal(host.container("weppcloud")!.image, A);
    assert.equal(host.projectFile("docker-compose.prod.yml"), "# A\n");
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.result, rec.who, rec.image], ["rollback", "ok", "roger", A]);
  });

  it("validate checks the live release through Caddy and audits the result with the live image", async () => {
    host = new FakeHost();
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    assert.equal((await host.cli(["validate"])).code, 0);
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.result, rec.image], ["validate", "ok", A]);
    host.images.set(A, { health: "ok", status: 500 });
    assert.equal((await host.cli(["validate"])).code, 1);
    assert.match(host.audit().pop()!.reason!, /page \/weppcloud\/ answered 500/);
  });

  it("restores a dump into the live database with the services that use it stopped, or into a scratch database", async () => {
    host = new FakeHost();
    host.image(A);
    await host.deploy(host.request(A, host.stage()));
    const b = await host.cli(["backup", "--reason", "manual"]);
    assert.equal(b.code, 0, b.err.join("\n"));
    const file = b.out[0];
    assert.match(file, /manual-\d{8}T\d{6}Z\.dump$/);
    assert.equal((await host.cli(["restore", file])).code, 0);
    assert.ok(host.calls.includes("db: restore live while caddy,postgres,redis,rq-worker"), host.calls.filter((c) => c.startsWith("db:")).join("\n"));
    assert.equal(host.container("weppcloud")!.running, true, "started again");
    assert.equal((await host.cli(["restore", file, "--into", "scratch_1"])).code, 0);
    assert.ok(host.calls.includes("db: restore into scratch_1 while caddy,postgres,redis,rq-worker,weppcloud"));
    assert.equal((await host.cli(["restore", file, "--into", "x; drop"])).code, EXIT.usage);
    assert.deepEqual(host.audit().filter((r) => r.action === "restore").map((r) => [r.result, r.into ?? null]), [["ok", null], ["ok", "scratch_1"]]);
    assert.deepEqual(JSON.parse((await host.cli(["backups", "--json"])).out[0]).map((x: { file: string }) => x.file), [file]);
  });

  it("retires the previous colour after its warm time, unless a newer release or a switch made it matter", async () => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage()));
    await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    const retire = host.detached.filter((d) => d.argv[0] === "retire").pop()!;
    assert.deepEqual(retire.argv.slice(0, 2), ["retire", "blue"]);
    assert.equal((await host.cli(["retire", "blue", "not-the-token"])).err.pop(), "[wepppy-deploy] superseded");
    assert.equal(host.container("weppcloud-blue")!.running, true);
    const started = host.now;
    const r = await host.cli(retire.argv);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.ok(host.now - started >= 1800_000, "it waited for the warm time");
    assert.equal(host.container("weppcloud-blue")!.running, false);
    assert.deepEqual([host.audit().pop()!.action, host.audit().pop()!.result], ["retire", "ok"]);
  });

  it("recover re-arms the retire a restart lost", async () => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    host.image(B);
    await host.deploy(host.request(A, host.stage()));
    await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    const before = host.detached.length;
    const r = await host.cli(["recover"]);
    assert.match(JSON.parse(r.out[0]).notes.join(), /retire of blue re-armed/);
    assert.equal(host.detached.slice(before).filter((d) => d.argv[0] === "retire").length, 1);
  });
});

