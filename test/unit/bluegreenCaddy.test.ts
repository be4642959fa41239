import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { blueGreenCaddyfile, withAccessLog } from "../../render/bluegreen/caddyfile";
import { accessLogPath } from "../../render/bluegreen/constants";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { requireTool } from "../support/tools";

/**
 * The transformed production Caddyfile is valid for the Caddy installed here (Debian's
 * 2.6.2), and its JSON chooses the colour by the marker file. The set-up command installs
 * caddy (a missing one fails under CI, else skips saying so).
 */

type Json = Record<string, unknown>;

interface ProxyUse {
  dials: string[];
  match: unknown;
  policy?: string;
  /** The chain of subroute matchers above it (path /weppcloud/*, /git/*...). */
  under: unknown[];
}

function adapt(caddyfile: string): Json {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-adapt-"));
  try {
    const file = path.join(dir, "Caddyfile");
    fs.writeFileSync(file, caddyfile);
    const out = execFileSync("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir },
    });
    return JSON.parse(out) as Json;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every reverse_proxy handler (forward_auth adapts to one) with the matchers that guard it. */
function proxies(routes: Json[], under: unknown[] = []): ProxyUse[] {
  const found: ProxyUse[] = [];
  for (const route of routes) {
    for (const h of (route.handle ?? []) as Json[]) {
      if (h.handler === "reverse_proxy") {
        const lb = h.load_balancing as Json | undefined;
        const policy = (lb?.selection_policy as Json | undefined)?.policy as string | undefined;
        found.push({ dials: ((h.upstreams ?? []) as Json[]).map((u) => u.dial as string), match: route.match, policy, under });
      }
      if (h.handler === "subroute") found.push(...proxies((h.routes ?? []) as Json[], [...under, route.match]));
    }
  }
  return found;
}

describe("blue/green Caddyfile under Caddy (caddy adapt)", function () {
  before(function () {
    requireTool(this, "caddy", ["caddy", "version"]);
  });

  const prod = () => fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "caddy", "Caddyfile"), "utf8");

  it("adapts, picks the state from the marker file first, and guards every app proxy by it", () => {
    const json = adapt(blueGreenCaddyfile(prod()).caddyfile);
    const servers = ((json.apps as Json).http as Json).servers as Record<string, Json>;
    const routes = Object.values(servers)[0].routes as Json[];
    // First route of the site: the file matcher on the marker sets the request variable.
    assert.deepEqual(routes[0], {
      match: [{ file: { root: "/srv/bluegreen", try_files: ["/live-green"] } }],
      handle: [{ handler: "vars", bluegreen_state: "green" }],
    });
    const all = proxies(routes);
    assert.equal(all.filter((p) => p.dials.includes("weppcloud:8000")).length, 0, "no route left on the single-colour service");
    const green = all.filter((p) => p.dials.some((d) => d.startsWith("weppcloud-green")));
    const blue = all.filter((p) => p.dials.some((d) => d.startsWith("weppcloud-blue")));
    assert.equal(green.length, 3);
    assert.equal(blue.length, 3);
    for (const p of green) {
      assert.deepEqual(p.dials, ["weppcloud-green:8000"]);
      assert.deepEqual(p.match, [{ vars: { bluegreen_state: ["green"] } }]);
    }
    for (const p of blue) {
      assert.deepEqual(p.dials, ["weppcloud-blue:8000"]);
      assert.deepEqual(p.match, [{ not: [{ vars: { bluegreen_state: ["green"] } }] }]);
    }
    // Each pair sits in the same subroute as the original: /git/* (forward_auth) and /weppcloud/*.
    const paths = green.map((p) => JSON.stringify(p.under));
    assert.equal(paths.filter((u) => u.includes('"/git/*"')).length, 1);
    assert.equal(paths.filter((u) => u.includes('"/weppcloud/*"')).length, 2);
    // Other upstreams are untouched.
    assert.ok(all.some((p) => p.dials.includes("fcgiwrap:9000")));
    assert.ok(all.some((p) => p.dials.includes("browse:9009")));
  });

  it("adapts the canary form: weighted upstream lists with lb_policy random", () => {
    const json = adapt(blueGreenCaddyfile(prod(), { canaryPercents: [10, 50] }).caddyfile);
    const servers = ((json.apps as Json).http as Json).servers as Record<string, Json>;
    const routes = Object.values(servers)[0].routes as Json[];
    const markers = routes.slice(0, 5).map((r) => ((r.match as Json[])[0].file as Json).try_files);
    assert.deepEqual(markers, [["/live-green"], ["/canary-blue-10"], ["/canary-blue-50"], ["/canary-green-10"], ["/canary-green-50"]]);
    const ten = proxies(routes).filter((p) => JSON.stringify(p.match) === JSON.stringify([{ vars: { bluegreen_state: ["canary-green-10"] } }]));
    assert.equal(ten.length, 3);
    for (const p of ten) {
      assert.equal(p.policy, "random");
      assert.equal(p.dials.length, 10);
      assert.equal(p.dials.filter((d) => d === "weppcloud-green:8000").length, 1);
    }
  });

  it("adapts wepppy's one-colour Caddyfile with the soak's access log", () => {
    const json = adapt(withAccessLog(prod(), "/var/log/wepppy-cicd/access.log").caddyfile);
    const logs = (json.logging as Json).logs as Record<string, Json>;
    const file = Object.values(logs).filter((l) => (l.writer as Json | undefined)?.output === "file");
    assert.deepEqual(file.map((l) => l.writer), [{ output: "file", filename: "/var/log/wepppy-cicd/access.log", roll_size_mb: 20, roll_keep: 2 }]);
  });

  it("adapts the access log: the site logs every request as JSON to the file, rolled", () => {
    const json = adapt(blueGreenCaddyfile(prod(), { accessLog: accessLogPath() }).caddyfile);
    const logs = (json.logging as Json).logs as Record<string, Json>;
    const file = Object.entries(logs).filter(([, l]) => (l.writer as Json | undefined)?.output === "file");
    assert.equal(file.length, 1);
    const [name, log] = file[0];
    assert.deepEqual(log.writer, { output: "file", filename: "/var/log/caddy-bluegreen/access.log", roll_size_mb: 20, roll_keep: 2 });
    assert.deepEqual(log.encoder, { format: "json" });
    assert.deepEqual(log.include, [`http.log.access.${name}`]);
    const servers = ((json.apps as Json).http as Json).servers as Record<string, Json>;
    assert.deepEqual(Object.values(servers)[0].logs, { default_logger_name: name });
  });
});

describe("blue/green Caddyfile access log (text)", () => {
  const site = (body: string) => `{\n\tauto_https off\n}\n:8080 {\n${body}\n}\n:9090 {\n\treverse_proxy other:1\n}\n`;

  it("adds one log block to each site it touched, none without the option", () => {
    const r = blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000"), { accessLog: "/var/log/x/access.log" });
    assert.deepEqual(r.warnings, []);
    assert.equal(r.caddyfile.split("\tlog {").length - 1, 1);
    assert.match(r.caddyfile, /:8080 \{\n(?:.*\n)*?\tlog \{\n\t\toutput file \/var\/log\/x\/access\.log \{\n\t\t\troll_size 20MiB\n\t\t\troll_keep 2\n\t\t\}\n\t\tformat json\n\t\}\n/);
    assert.match(r.caddyfile, /:9090 \{\n\treverse_proxy other:1\n\}/);
    const plain = blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000"));
    assert.doesNotMatch(plain.caddyfile, /\blog\b/);
    assert.deepEqual(plain.warnings, []);
  });

  it("keeps a site's own log directive and warns instead of adding a second", () => {
    const body = "\tlog {\n\t\toutput stdout\n\t}\n\thandle {\n\t\treverse_proxy weppcloud:8000\n\t}";
    const r = blueGreenCaddyfile(site(body), { accessLog: "/var/log/x/access.log" });
    assert.equal(r.caddyfile.split("log {").length - 1, 1);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /^:8080: has its own log directive.*\/var\/log\/x\/access\.log/);
    // log_skip is another directive, not a log of the site's own.
    const nested = blueGreenCaddyfile(site("\thandle {\n\t\tlog_skip\n\t\treverse_proxy weppcloud:8000\n\t}"), { accessLog: "/l" });
    assert.deepEqual(nested.warnings, []);
  });

  it("one colour: adds the soak's log to every site without a log of its own, and changes nothing else", () => {
    const input = site("\treverse_proxy weppcloud:8000");
    const r = withAccessLog(input, "/var/log/wepppy-cicd/access.log");
    assert.deepEqual(r.sites, [":8080", ":9090"]);
    assert.equal(r.caddyfile.split("\tlog {").length - 1, 2);
    const withoutLog = r.caddyfile.replace(/\t# wepppy-cicd[^\n]*\n\tlog \{\n(?:\t\t.*\n)+\t\}\n\n/g, "");
    assert.equal(withoutLog, input);
    const own = withAccessLog(site("\tlog {\n\t\toutput stdout\n\t}\n\treverse_proxy weppcloud:8000"), "/l");
    assert.deepEqual(own.sites, [":9090"]);
    assert.match(own.warnings[0], /^:8080: has its own log directive/);
    assert.throws(() => withAccessLog(input, "relative.log"), /absolute path/);
  });

  it("refuses a log path Caddy would read differently", () => {
    for (const bad of ["access.log", "/var/log/a b.log", "/x/{y}"]) {
      assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000"), { accessLog: bad }), /absolute path/);
    }
  });
});
