import { strict as assert } from "node:assert";
import { runCommand } from "../../host/agent/exec";
import * as fs from "node:fs";
import * as path from "node:path";
import { composeArgv } from "../../host/agent/compose";
import { containerOf, parseInspect, parsePsLines } from "../../host/agent/docker";
import { countLines } from "../../host/agent/analysis";
import { atEveryStartArgs, detachedArgs, runtimeFromEnv } from "../../host/agent/launcher";
import { parseSums } from "../../host/agent/secrets";
import { renderEnvFile } from "../../host/contract/envFile";
import { FakeHost } from "./fixtures/fakeHost";

/*
 * The agent's adapters: what it makes of the docker CLI's answers (recorded from a real
 * engine in fixtures/docker/), and the argv it gives compose and docker.
 */

const FIXTURES = path.join(__dirname, "fixtures", "docker");

describe("agent adapters", () => {
  it("reads docker ps JSON lines and docker inspect as recorded from a real engine", () => {
    const ps = parsePsLines(fs.readFileSync(path.join(FIXTURES, "ps.jsonl"), "utf8"));
    assert.equal(ps.length, 2);
    assert.ok(ps.every((x) => /^[0-9a-f]{64}$/.test(x.id)));
    const all = parseInspect(fs.readFileSync(path.join(FIXTURES, "inspect.json"), "utf8"));
    const blue = containerOf(all, "weppcloud-blue")!;
    assert.deepEqual([blue.name, blue.image, blue.running, blue.status, blue.health], ["h10-fixture-weppcloud-blue-1", "wepppy-rig/weppcloud:c06ec314645f", true, "running", "healthy"]);
    const redis = containerOf(all, "redis")!;
    assert.equal(redis.health, "none", "no healthcheck is 'none', not a failure");
    assert.deepEqual(new Set(ps.map((x) => x.id)), new Set(all.map((x) => x.id)));
  });

  it("prefers a running container of a service, then the newest", () => {
    const base = { name: "x", image: "i", status: "exited", health: "none", labels: {}, service: "s" };
    const picked = containerOf(
      [
        { ...base, id: "old", running: false, startedAt: "2026-01-01T00:00:00Z" },
        { ...base, id: "up", running: true, startedAt: "2025-01-01T00:00:00Z" },
        { ...base, id: "new", running: false, startedAt: "2026-02-01T00:00:00Z" },
      ],
      "s",
    );
    assert.equal(picked!.id, "up");
  });

  it("stops a command whose signal is aborted (a rollback preempting a converge's compose call), and reports it as not succeeded", async () => {
    const ctl = new AbortController();
    const started = Date.now();
    const pending = runCommand(["sleep", "30"], { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 100);
    const r = await pending;
    assert.notEqual(r.code, 0);
    assert.ok(Date.now() - started < 5000, `stopped after ${Date.now() - started} ms`);
  });

  it("gives compose the project directory, the env file and every file explicitly", () => {
    const host = new FakeHost();
    host.cleanup();
    const argv = composeArgv({ ...host.settings, compose: { command: "docker-compose", files: ["a.yml", "b.yml"], project: "wepppy" } }, "/p/.env.next", ["up", "-d"]);
    assert.deepEqual(argv, ["docker-compose", "--project-directory", host.projectDir, "--env-file", "/p/.env.next", "-p", "wepppy", "-f", `${host.projectDir}/a.yml`, "-f", `${host.projectDir}/b.yml`, "up", "-d"]);
    assert.deepEqual(composeArgv(host.settings, "/e", ["ps"]).slice(0, 2), ["docker", "compose"]);
  });

  it("starts a detached run as the bootstrap's container was started, from its WEPPPY_AGENT_* description", () => {
    const rt = runtimeFromEnv({
      WEPPPY_AGENT_IMAGE: "wepppy-cicd/agent:abc",
      WEPPPY_DEPLOY_ROOT: "/opt/wepppy-cicd",
      WEPPPY_AGENT_USER: "1000:1000",
      WEPPPY_AGENT_GROUPS: "993",
      WEPPPY_AGENT_MOUNTS: "/opt/wepppy-cicd /opt/wepppy",
    })!;
    const args = detachedArgs(rt, "wepppy-deploy-x", ["run", "x"], "ci");
    const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
    assert.deepEqual(pairs("-v"), ["/var/run/docker.sock:/var/run/docker.sock", "/opt/wepppy-cicd:/opt/wepppy-cicd", "/opt/wepppy:/opt/wepppy"]);
    assert.deepEqual([pairs("--pid"), pairs("--network"), pairs("--user"), pairs("--group-add")], [["host"], ["host"], ["1000:1000"], ["993"]]);
    assert.deepEqual(args.slice(-5), ["wepppy-cicd/agent:abc", "node", "/opt/wepppy-cicd/bin/wepppy-agent.js", "run", "x"]);
    assert.ok(pairs("-e").includes("WEPPPY_AGENT_MOUNTS=/opt/wepppy-cicd /opt/wepppy"), "a detached run can detach in turn (a retire)");
    assert.throws(() => runtimeFromEnv({ WEPPPY_AGENT_IMAGE: "x", WEPPPY_DEPLOY_ROOT: "/opt", WEPPPY_AGENT_MOUNTS: "/a;touch /tmp/x" }), /not a plain word/);
  });

  it("keeps recover run by dockerd at every start: restart unless-stopped, the agent once, then only sleep", () => {
    const rt = runtimeFromEnv({ WEPPPY_AGENT_IMAGE: "wepppy-cicd/agent:abc", WEPPPY_DEPLOY_ROOT: "/opt/wepppy-cicd", WEPPPY_AGENT_MOUNTS: "/opt/wepppy-cicd" })!;
    const { args, digest } = atEveryStartArgs(rt, "wepppy-deploy-boot", ["recover"], "ci");
    assert.ok(!args.includes("--rm"));
    assert.equal(args[args.indexOf("--restart") + 1], "unless-stopped");
    assert.deepEqual(args.slice(args.indexOf("wepppy-cicd/agent:abc")), ["wepppy-cicd/agent:abc", "sh", "-c", 'node "$@"; exec sleep infinity', "agent", "/opt/wepppy-cicd/bin/wepppy-agent.js", "recover"]);
    assert.equal(args[args.indexOf("--label") + 1], `org.wepppy.cicd.args=${digest}`);
    assert.notEqual(atEveryStartArgs({ ...rt, image: "wepppy-cicd/agent:def" }, "wepppy-deploy-boot", ["recover"], "ci").digest, digest, "a new image recreates it");
  });

  it("counts 5xx answers in complete JSON lines of Caddy's log and resumes after the last one", () => {
    const lines = ['{"status":200}', '{"status":502}', "not json", '{"status":500,"msg":"x"}', '{"sta'].join("\n");
    const r = countLines(lines, 100);
    assert.deepEqual(r.counts, { requests: 3, errors: 2 });
    assert.equal(r.next, 100 + Buffer.byteLength(lines.slice(0, lines.lastIndexOf("\n") + 1)));
  });

  it("reads sha256sum lines, and writes env values in place of the template's", () => {
    assert.deepEqual(parseSums(`${"a".repeat(64)}  redis_password\n${"b".repeat(64)} *x\nbad line\n`), { redis_password: "a".repeat(64), x: "b".repeat(64) });
    assert.equal(renderEnvFile("UID=1\nWEPPCLOUD_IMAGE=old\n", { WEPPCLOUD_IMAGE: "new", X: "1" }), "UID=1\nWEPPCLOUD_IMAGE=new\n\n# Set by wepppy-cicd for this environment.\nX=1\n");
    assert.throws(() => renderEnvFile("", { X: "a\nY=b" }), /X holds a line break/);
  });
});
