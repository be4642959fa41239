/** The stand-in weppcloud image: the contract the pipeline relies on, and its broken builds. */
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { sshRun } from "../../rig";
import { loginOnHost, rigStandins } from "../../rig/stacks";
import { curl, ensureRig, randomName, waitFor } from "./helpers";

const host = "forest";
const address = "10.213.0.11";
let port = 18100;

async function runStandin(build: string, env: string[] = [], command: string[] = []): Promise<{ name: string; port: number }> {
  const name = randomName("standin");
  const p = port++;
  const r = await sshRun(host, ["docker", "run", "-d", "--name", name, "-p", `${p}:8000`, ...env.flatMap((e) => ["-e", e]),
    rigStandins().weppcloud[build], ...command]);
  assert.equal(r.code, 0, r.stderr);
  return { name, port: p };
}

describe("stand-in weppcloud image", function () {
  const started: string[] = [];
  before(async () => {
    await ensureRig();
    await loginOnHost(host);
  });
  after(async () => {
    if (started.length) await sshRun(host, ["docker", "rm", "-f", ...started]);
  });

  async function start(build: string, env: string[] = [], command: string[] = []) {
    const c = await runStandin(build, env, command);
    started.push(c.name);
    return `http://${address}:${c.port}`;
  }
  const up = (url: string) => waitFor(`${url}/version`, async () => (await curl(["-f", `${url}/version`])).code === 0, 30_000);

  it("answers /health with \"OK\", /version and X-Weppcloud-Build", async () => {
    const url = await start("rig-a");
    await up(url);
    const h = await curl(["-i", `${url}/health`]);
    assert.match(h.stdout, /^HTTP\/1\.1 200/);
    assert.match(h.stdout, /X-Weppcloud-Build: rig-a/);
    assert.match(h.stdout, /\r\n\r\n"OK"\s*$/);
    assert.equal(JSON.parse((await curl([`${url}/version`])).stdout).build, "rig-a");
  });

  it("answers while connections it accepted sit idle (as Caddy's proxy parks spare ones)", async () => {
    const url = await start("rig-a");
    await up(url);
    const p = Number(new URL(url).port);
    // More idle connections than the stand-in has threads: bookworm's gunicorn 20.1 answered none
    // of the requests after them, /health included, until they closed.
    const idle = await Promise.all(
      Array.from({ length: 8 }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(p, address, () => resolve(s));
        s.on("error", reject);
      })),
    );
    try {
      await new Promise((done) => setTimeout(done, 500));
      const h = await curl(["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", `${url}/health`]);
      assert.equal(h.stdout, "200", `with 8 idle connections open, /health gave ${h.stdout || "no answer"} within 5 s`);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it("test-support API: 403 when disabled; ping, create-run 201, run page, delete when enabled", async () => {
    const off = await start("rig-a");
    await up(off);
    assert.equal((await curl(["-o", "/dev/null", "-w", "%{http_code}", `${off}/tests/api/ping`])).stdout, "403");

    const url = await start("rig-a", ["TEST_SUPPORT_ENABLED=true"]);
    await up(url);
    assert.deepEqual(JSON.parse((await curl([`${url}/weppcloud/tests/api/ping`])).stdout), { message: "test support online" });
    const created = await curl(["-w", "\n%{http_code}", "-H", "Content-Type: application/json", "-d", '{"config":"dev_unit_1","overrides":{}}', `${url}/tests/api/create-run`]);
    const cut = created.stdout.lastIndexOf("\n");
    const [body, code] = [created.stdout.slice(0, cut), created.stdout.slice(cut + 1)];
    assert.equal(code, "201");
    const run = JSON.parse(body).run;
    assert.deepEqual(Object.keys(run).sort(), ["cfg", "config", "runid", "url"]);
    assert.equal(run.config, "dev_unit_1");
    const page = await curl(["-o", "/dev/null", "-w", "%{http_code}", `${url}${run.url}`]);
    assert.equal(page.stdout, "200");
    const del = await curl(["-X", "DELETE", `${url}/tests/api/run/${run.runid}`]);
    assert.deepEqual(JSON.parse(del.stdout), { runid: run.runid });
    assert.equal((await curl(["-o", "/dev/null", "-w", "%{http_code}", `${url}${run.url}`])).stdout, "404");
  });

  it("listens where the prod compose's commands say (gunicorn --bind, uvicorn --port, preflight entrypoint)", async () => {
    const name = randomName("standin-uvicorn");
    started.push(name);
    const r = await sshRun(host, ["docker", "run", "-d", "--name", name, "-p", "18199:8041",
      "--entrypoint", "/opt/venv/bin/python", rigStandins().weppcloud["rig-a"],
      "/workdir/wepppy/docker/wepppyo3-interchange-preflight.py", "--",
      "uvicorn", "wepppy.query_engine.app.server:create_app", "--factory", "--host", "0.0.0.0", "--port", "8041"]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor("uvicorn-style stand-in", async () => (await curl(["-f", `http://${address}:18199/health`])).code === 0, 30_000);
    const v = JSON.parse((await curl([`http://${address}:18199/version`])).stdout);
    assert.equal(v.service, "wepppy.query_engine.app.server:create_app");
  });

  describe("reads every secret it is given from /run/secrets as the service's user", () => {
    const dir = `/tmp/${randomName("standin-secrets")}`;
    const secret = `${dir}/redis_password`;
    before(async () => {
      const r = await sshRun(host, { script: `set -e; mkdir -p ${dir}; head -c 32 /dev/urandom | base64 > ${secret}; sudo -n chown 0:0 ${secret}; sudo -n chmod 0600 ${secret}` });
      assert.equal(r.code, 0, r.stderr);
    });
    after(async () => {
      await sshRun(host, ["sudo", "-n", "rm", "-rf", dir]);
    });

    /** Runs the stand-in as status runs (compose `user: UID:GID`, the secret bind-mounted as compose mounts a file secret). */
    async function asStatus(): Promise<string> {
      const name = randomName("standin-secret");
      started.push(name);
      const r = await sshRun(host, ["docker", "run", "-d", "--name", name, "--user", "33:1234", "-v", `${secret}:/run/secrets/redis_password:ro`, rigStandins().weppcloud["rig-a"]]);
      assert.equal(r.code, 0, r.stderr);
      return name;
    }

    it("exits 4 naming the file when a secret has the wrong owner", async () => {
      const name = await asStatus();
      await waitFor("the stand-in to give up", async () =>
        (await sshRun(host, ["docker", "inspect", "--format", "{{.State.Running}}", name])).stdout.trim() === "false", 30_000);
      assert.equal((await sshRun(host, ["docker", "inspect", "--format", "{{.State.ExitCode}}", name])).stdout.trim(), "4");
      const logs = await sshRun(host, ["docker", "logs", name]);
      assert.match(logs.stderr, /cannot read its secrets as uid 33 gid 1234: \/run\/secrets\/redis_password \(Permission denied\)/);
    });

    it("serves when the file is the service's own (0600, runAs uid:gid)", async () => {
      const r = await sshRun(host, ["sudo", "-n", "chown", "33:1234", secret]);
      assert.equal(r.code, 0, r.stderr);
      const name = await asStatus();
      await waitFor("the stand-in to serve", async () =>
        (await sshRun(host, ["docker", "exec", name, "curl", "-fsS", "http://127.0.0.1:8000/health"])).code === 0, 30_000);
    });
  });

  it("never-healthy: /health is 503", async () => {
    const url = await start("rig-never-healthy");
    await up(url);
    assert.equal((await curl(["-o", "/dev/null", "-w", "%{http_code}", `${url}/health`])).stdout, "503");
  });

  it("healthy-then-5xx: /health 200, normal pages 500", async () => {
    const url = await start("rig-healthy-then-5xx");
    await up(url);
    assert.equal((await curl(["-o", "/dev/null", "-w", "%{http_code}", `${url}/health`])).stdout, "200");
    assert.equal((await curl(["-o", "/dev/null", "-w", "%{http_code}", `${url}/`])).stdout, "500");
  });

  it("slow-start: not listening for the first seconds", async () => {
    const url = await start("rig-slow-start");
    await new Promise((r) => setTimeout(r, 5000));
    assert.notEqual((await curl([`${url}/health`])).code, 0);
  });

  it("crash-on-start: the process exits non-zero", async () => {
    const name = randomName("standin-crash");
    started.push(name);
    await sshRun(host, ["docker", "run", "-d", "--name", name, rigStandins().weppcloud["rig-crash-on-start"]]);
    await waitFor("the crash", async () =>
      (await sshRun(host, ["docker", "inspect", "--format", "{{.State.Running}}", name])).stdout.trim() === "false", 30_000);
    const code = await sshRun(host, ["docker", "inspect", "--format", "{{.State.ExitCode}}", name]);
    assert.equal(code.stdout.trim(), "3");
  });
});
