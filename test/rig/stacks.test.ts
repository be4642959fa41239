/** wepppy's real compose stacks, adapted by the tested transformation, on rig hosts. */
import * as assert from "node:assert/strict";
import { sshRun } from "../../rig";
import { composeOnHost, loginOnHost, rigStandins, stageStack, StagedStack } from "../../rig/stacks";
import { ensureRig, randomName, waitFor } from "./helpers";

async function health(host: string, container: string): Promise<string> {
  const r = await sshRun(host, ["docker", "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", container]);
  return r.stdout.trim();
}

async function containerOf(stack: StagedStack, service: string): Promise<string> {
  const r = await composeOnHost(stack, ["ps", "-q", service]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.ok(id, `no container for ${service}`);
  return id;
}

describe("wepppy stacks on the rig", function () {
  before(async () => {
    await ensureRig();
  });

  describe("canary-smoke stack on forest1", () => {
    let stack: StagedStack;
    const host = "forest1";

    before(async () => {
      const s = rigStandins();
      await loginOnHost(host);
      stack = await stageStack(host, "canary", `/opt/wepppy/${randomName("canary")}`, {
        WEPPCLOUD_SMOKE_IMAGE: s.weppcloud["rig-a"],
        WEPPCLOUD_SMOKE_REDIS_PASSWORD: randomName("redis"),
        WEPPCLOUD_SMOKE_SECRET_KEY: randomName("key"),
        WEPPCLOUD_SMOKE_PASSWORD_SALT: randomName("salt"),
        WEPPCLOUD_SMOKE_AGENT_JWT_SECRET: randomName("jwt"),
      });
    });

    after(async () => {
      if (stack) {
        await composeOnHost(stack, ["down", "-v", "--remove-orphans"]);
        await sshRun(host, ["rm", "-rf", stack.dir]);
      }
    });

    it("comes up (compose v1 waits for redis and weppcloud to be healthy)", async () => {
      assert.equal(stack.project, "weppcloud-canary-smoke");
      const up = await composeOnHost(stack, ["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(await health(host, await containerOf(stack, "weppcloud")), "healthy");
    });

    it("Caddy serves the stand-in's /weppcloud/health and /weppcloud/version with the right build", async () => {
      await waitFor("caddy on 127.0.0.1:18080", async () =>
        (await sshRun(host, ["curl", "-fsS", "http://127.0.0.1:18080/health"])).code === 0, 30_000);
      const r = await sshRun(host, ["curl", "-sS", "-D", "-", "http://127.0.0.1:18080/weppcloud/health"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 200/);
      assert.match(r.stdout, /^X-Weppcloud-Build: rig-a\r?$/m);
      assert.match(r.stdout, /^Server: gunicorn\r?$/m, "answered by the app, not by Caddy itself");
      assert.match(r.stdout, /\r?\n\r?\n"OK"\s*$/);
      const v = await sshRun(host, ["curl", "-fsS", "http://127.0.0.1:18080/weppcloud/version"]);
      assert.equal(JSON.parse(v.stdout).build, "rig-a");
    });

    it("publishes Caddy on the host's loopback only", async () => {
      const r = await sshRun(host, ["curl", "-sS", "--max-time", "3", "http://10.213.0.12:18080/health"]);
      assert.notEqual(r.code, 0);
    });

    it("has the test-support API off (the canary stack does not set TEST_SUPPORT_ENABLED)", async () => {
      const r = await sshRun(host, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18080/weppcloud/tests/api/ping"]);
      assert.equal(r.stdout, "403");
    });
  });

  describe("prod stack on wepp1", () => {
    let stack: StagedStack;
    const host = "wepp1";

    before(async () => {
      const s = rigStandins();
      const app = s.weppcloud["rig-b"];
      await loginOnHost(host);
      stack = await stageStack(host, "prod", "/opt/wepppy/docker", {
        WEPPCLOUD_IMAGE: app,
        WEPPCLOUD_STATUS_IMAGE: app,
        WEPPCLOUD_PREFLIGHT_IMAGE: app,
        CAP_IMAGE: app,
        WEPPCLOUDR_IMAGE: app,
      }, "wepppy");
    });

    after(async () => {
      if (stack) {
        await composeOnHost(stack, ["down", "-v", "--remove-orphans"]);
        await sshRun(host, ["rm", "-rf", stack.dir]);
      }
    });

    it("passes docker compose config", async () => {
      const r = await composeOnHost(stack, ["config", "-q"]);
      assert.equal(r.code, 0, r.stderr);
    });

    it("comes up with every default-profile service running and weppcloud, postgres, redis healthy", async () => {
      const up = await composeOnHost(stack, ["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      // Services without a profile are the ones `up` starts (compose v1 lists profile services in config too).
      const services = Object.entries(stack.transform.doc.services ?? {})
        .filter(([, svc]) => !("profiles" in svc))
        .map(([name]) => name);
      assert.ok(services.length > 20, `${services.length} services`);
      const ps = await sshRun(host, ["docker", "ps", "--filter", "label=com.docker.compose.project=wepppy", "--format", "{{.Label \"com.docker.compose.service\"}}"]);
      const running = new Set(ps.stdout.trim().split("\n"));
      for (const s of services) assert.ok(running.has(s), `${s} is running`);
      // Only some services are gated by depends_on: service_healthy, so the rest may still be
      // "starting" when `up` returns; wait, but fail at once on "unhealthy".
      for (const s of ["weppcloud", "postgres", "redis", "download", "cap"]) {
        const id = await containerOf(stack, s);
        let last = "";
        await waitFor(`${s} healthy (last: ${last})`, async () => {
          last = await health(host, id);
          assert.notEqual(last, "unhealthy", s);
          return last === "healthy";
        }, 90_000, 1000);
      }
    });

    it("weppcloud answers on 8000 and through Caddy's /weppcloud/ with the deployed build", async () => {
      const direct = await sshRun(host, ["curl", "-sS", "-D", "-", "http://127.0.0.1:8000/health"]);
      assert.match(direct.stdout, /^HTTP\/1\.1 200/);
      assert.match(direct.stdout, /"OK"/);
      const viaCaddy = await sshRun(host, ["curl", "-fsS", "-H", "X-Forwarded-Proto: https", "http://127.0.0.1:8080/weppcloud/version"]);
      assert.equal(viaCaddy.code, 0, viaCaddy.stderr);
      assert.equal(JSON.parse(viaCaddy.stdout).build, "rig-b");
      // Without X-Forwarded-Proto: https, Caddy redirects (as in production).
      const plain = await sshRun(host, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8080/weppcloud/version"]);
      assert.equal(plain.stdout, "301");
    });

    it("redis requires the password from the secret file (the escaped healthcheck runs its $(cat ...))", async () => {
      const id = await containerOf(stack, "redis");
      const noAuth = await sshRun(host, ["docker", "exec", id, "redis-cli", "ping"]);
      assert.match(noAuth.stdout + noAuth.stderr, /NOAUTH/);
      const authed = await sshRun(host, ["docker", "exec", id, "sh", "-c", 'redis-cli --no-auth-warning -a "$(cat /run/secrets/redis_password)" ping']);
      assert.equal(authed.stdout.trim(), "PONG");
    });

    it("postgres-backup writes a pg_dump -Fc file that pg_restore on the host can read", async () => {
      const id = await containerOf(stack, "postgres-backup");
      let file = "";
      await waitFor("the first backup", async () => {
        const r = await sshRun(host, ["docker", "exec", id, "sh", "-c", "ls /backups/weppcloud-*.dump 2>/dev/null | head -n 1"]);
        file = r.stdout.trim();
        return !!file;
      }, 60_000, 1000);
      const local = `/tmp/${randomName("backup")}.dump`;
      assert.equal((await sshRun(host, ["docker", "cp", `${id}:${file}`, local])).code, 0);
      const list = await sshRun(host, ["pg_restore", "--list", local]);
      await sshRun(host, ["rm", "-f", local]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /dbname: wepppy/);
    });
  });
});
