import { strict as assert } from "node:assert";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { blueGreenCaddyfile, singleUpstreamCaddyfile } from "../../render/bluegreen/caddyfile";
import { VALIDATION_LISTENER_PORT, confinedAppPort, validationComposeDoc, withValidationListener } from "../../render/caddyValidation";
import { readComposeDocument } from "../../render/composeFile";
import { requireTool } from "../support/tools";

/*
 * The test-support API confined to the validation listener, under Debian's Caddy 2.6: wepppy's
 * own Caddyfile, transformed, in front of a stand-in app on 127.0.0.1 that records what reaches it.
 */

const wepppys = () => fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "caddy", "Caddyfile"), "utf8");

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function request(port: number, method: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // The path goes as written (no client-side cleaning), as a hostile client would send it.
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers: { "X-Forwarded-Proto": "https", Host: "wc.example.test" } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the test-support API only on the validation listener (Caddy 2.6, wepppy's Caddyfile)", function () {
  this.timeout(30_000);
  const seen: string[] = [];
  let app: http.Server;
  let caddy: ChildProcess | undefined;
  let dir: string;
  let publicPort: number;
  let listenerPort: number;

  before(async function () {
    requireTool(this, "caddy", ["caddy", "version"]);
    app = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end(`app ${req.url}`);
    });
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
    const appPort = (app.address() as AddressInfo).port;
    [publicPort, listenerPort] = [await freePort(), await freePort()];
    const transformed = withValidationListener(wepppys(), { sitePrefix: "/weppcloud" });
    const local = singleUpstreamCaddyfile(transformed, `127.0.0.1:${appPort}`)
      .replace(/^\{\n/, "{\n\tadmin off\n")
      .replace("http://:8080 {", `http://:${publicPort} {\n\tbind 127.0.0.1`)
      .replace(`http://:${VALIDATION_LISTENER_PORT} {`, `http://:${listenerPort} {\n\tbind 127.0.0.1`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddy-validation-"));
    fs.writeFileSync(path.join(dir, "Caddyfile"), local);
    const log = fs.openSync(path.join(dir, "caddy.log"), "a");
    const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir };
    caddy = spawn("caddy", ["run", "--config", path.join(dir, "Caddyfile"), "--adapter", "caddyfile"], { cwd: dir, env, stdio: ["ignore", log, log] });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (caddy.exitCode !== null) throw new Error(`caddy exited: ${fs.readFileSync(path.join(dir, "caddy.log"), "utf8").slice(-800)}`);
      const up = await request(publicPort, "GET", "/health").then((r) => r.status === 200, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error("caddy did not answer within 15 s");
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    caddy?.kill("SIGTERM");
    await new Promise((r) => app?.close(r));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the API on the public site, however the path is spelled, and the app never sees it", async () => {
    seen.length = 0;
    for (const p of ["/weppcloud/tests/api/create-run", "/weppcloud//tests/api/create-run", "/weppcloud/TESTS/api/create-run", "/weppcloud/%74ests/api/create-run", "/weppcloud/x/../tests/api/create-run", "/weppcloud/tests%2fapi/create-run", "/tests/api/create-run"]) {
      const r = await request(publicPort, "POST", p);
      assert.equal(r.status, 404, `${p} answered ${r.status}: ${r.body}`);
    }
    assert.deepEqual(seen, []);
  });

  it("passes every other page of the public site to the app as before", async () => {
    seen.length = 0;
    const r = await request(publicPort, "GET", "/weppcloud/runs/abc/dev_unit_1/");
    assert.deepEqual([r.status, r.body], [200, "app /runs/abc/dev_unit_1/"]);
    assert.deepEqual(seen, ["GET /runs/abc/dev_unit_1/"]);
  });

  it("passes the API on the validation listener, with wepppy's routes (prefix stripped as on the public site)", async () => {
    seen.length = 0;
    const created = await request(listenerPort, "POST", "/weppcloud/tests/api/create-run");
    assert.deepEqual([created.status, created.body], [200, "app /tests/api/create-run"]);
    const page = await request(listenerPort, "GET", "/weppcloud/runs/abc/dev_unit_1/");
    assert.equal(page.status, 200);
    assert.equal((await request(listenerPort, "GET", "/health")).body, "OK", "the copy keeps the site's own routes");
    assert.deepEqual(seen, ["POST /tests/api/create-run", "GET /runs/abc/dev_unit_1/"]);
  });
});

describe("the validation listener's transformation", () => {
  it("refuses a Caddyfile with no site, or two sites, proxying to the app, and one already transformed", () => {
    assert.throws(() => withValidationListener("http://:8080 {\n\trespond OK\n}\n", { sitePrefix: "/weppcloud" }), /no site proxies to weppcloud:8000/);
    const two = "a.test {\n\treverse_proxy weppcloud:8000\n}\nb.test {\n\treverse_proxy weppcloud:8000\n}\n";
    assert.throws(() => withValidationListener(two, { sitePrefix: "/weppcloud" }), /2 sites proxy to weppcloud:8000; .*\(a\.test, b\.test\)/);
    const once = withValidationListener(wepppys(), { sitePrefix: "/weppcloud" });
    assert.throws(() => withValidationListener(once, { sitePrefix: "/weppcloud" }), /already has the validation listener/);
  });

  it("comes before blue/green, so that the listener's copy picks the live colour as the public site does", () => {
    const bg = blueGreenCaddyfile(withValidationListener(wepppys(), { sitePrefix: "/weppcloud" }), { accessLog: "/var/log/caddy-bluegreen/access.log" });
    assert.deepEqual(bg.sites, ["http://:8080", `http://:${VALIDATION_LISTENER_PORT}`]);
    assert.doesNotMatch(bg.caddyfile, /weppcloud:8000/);
  });

  it("binds the app's own published port to the loopback through wepppy's variable, keeping an operator's port; refuses a mapping no variable confines", () => {
    const doc = (ports: unknown[]) => [{ services: { weppcloud: { ports } } }];
    assert.deepEqual(confinedAppPort(doc(["${WEPPCLOUD_PORT:-8000}:8000"]), "weppcloud", {}), { WEPPCLOUD_PORT: "127.0.0.1:8000" });
    assert.deepEqual(confinedAppPort(doc(["${WEPPCLOUD_PORT:-8000}:8000"]), "weppcloud", { WEPPCLOUD_PORT: "0.0.0.0:9000" }), { WEPPCLOUD_PORT: "127.0.0.1:9000" });
    assert.deepEqual(confinedAppPort(doc(["127.0.0.1:8000:8000"]), "weppcloud", {}), {});
    assert.throws(() => confinedAppPort(doc(["8000:8000"]), "weppcloud", {}), /weppcloud publishes "8000:8000" on every interface, which reaches the test-support API around Caddy/);
    assert.throws(() => confinedAppPort(doc([{ target: 8000, published: 8000 }]), "weppcloud", {}), /on every interface/);
    const prod = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, "docker-compose.prod.yml"));
    assert.deepEqual(confinedAppPort([prod], "weppcloud", {}), { WEPPCLOUD_PORT: "127.0.0.1:8000" }, "wepppy's own prod file");
  });

  it("publishes the listener on the host's loopback only, with the base file's compose version", () => {
    assert.deepEqual(validationComposeDoc(18080), { services: { caddy: { ports: ["127.0.0.1:18080:8081"] } } });
    assert.deepEqual(validationComposeDoc(18080, "3.8"), { version: "3.8", services: { caddy: { ports: ["127.0.0.1:18080:8081"] } } });
  });
});
