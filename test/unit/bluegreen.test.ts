import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { blueGreenCaddyfile, lineTokens, singleUpstreamCaddyfile, stateUpstreams } from "../../render/bluegreen/caddyfile";
import { BLUEGREEN, allStates, allTo, canaryTo, markerName, parseStateId, stateId } from "../../render/bluegreen/constants";
import { switchCommand, trafficStateCommand } from "../../render/bluegreen/switch";
import { HOST_SCRIPT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { FakeHost } from "./fixtures/fakeHost";

const PROD_CADDYFILE = path.join(WEPPPY_REFERENCE_DIR, "caddy", "Caddyfile");

function prodCaddyfile(): string {
  if (!fs.existsSync(PROD_CADDYFILE)) throw new Error(`wepppy's production Caddyfile not found at ${PROD_CADDYFILE}`);
  return fs.readFileSync(PROD_CADDYFILE, "utf8");
}

/** Lines of `text` that are not in `base`, as a multiset difference. */
function removedLines(base: string, text: string): string[] {
  const count = new Map<string, number>();
  for (const l of text.split("\n")) count.set(l, (count.get(l) ?? 0) + 1);
  return base.split("\n").filter((l) => {
    const n = count.get(l) ?? 0;
    if (n === 0) return true;
    count.set(l, n - 1);
    return false;
  });
}

describe("blue/green states", () => {
  it("names states and markers: no marker is blue, live-green is green", () => {
    assert.equal(markerName(allTo("blue")), null);
    assert.equal(markerName(allTo("green")), "live-green");
    assert.equal(markerName(canaryTo("green", 10)), "canary-green-10");
    for (const s of allStates([10, 50])) assert.deepEqual(parseStateId(stateId(s)), s);
    assert.deepEqual(allStates([50, 10, 10]).map(stateId), ["blue", "green", "canary-blue-10", "canary-blue-50", "canary-green-10", "canary-green-50"]);
  });

  it("refuses canary percents Caddy's upstream list cannot express exactly", () => {
    assert.throws(() => canaryTo("green", 0));
    assert.throws(() => canaryTo("green", 100));
    assert.throws(() => canaryTo("green", 33), /multiple of 5/);
    assert.throws(() => parseStateId("purple"));
  });

  it("weights a canary by repeating upstreams (lb_policy random)", () => {
    const ups = { blue: "b:1", green: "g:1" };
    assert.deepEqual(stateUpstreams(allTo("green"), ups), ["g:1"]);
    assert.deepEqual(stateUpstreams(canaryTo("green", 50), ups), ["b:1", "g:1"]);
    const ten = stateUpstreams(canaryTo("green", 10), ups);
    assert.equal(ten.length, 10);
    assert.equal(ten.filter((u) => u === "g:1").length, 1);
    const blue25 = stateUpstreams(canaryTo("blue", 25), ups);
    assert.deepEqual([blue25.filter((u) => u === "b:1").length, blue25.length], [1, 4]);
  });
});

describe("blue/green Caddyfile transformation", () => {
  it("tokenizes like Caddy: placeholders are not blocks, comments are dropped", () => {
    assert.deepEqual(lineTokens('    header_up Host {host} # keep'), ["header_up", "Host", "{host}"]);
    assert.deepEqual(lineTokens('respond "a { b" 200'), ['respond', '"a { b"', "200"]);
    assert.deepEqual(lineTokens("reverse_proxy weppcloud:8000 {"), ["reverse_proxy", "weppcloud:8000", "{"]);
  });

  it("rewrites every app proxy of wepppy's production Caddyfile and keeps every other line", () => {
    const src = prodCaddyfile();
    const r = blueGreenCaddyfile(src);
    assert.deepEqual(
      r.replaced.map((x) => x.directive),
      ["forward_auth", "reverse_proxy", "reverse_proxy"],
    );
    assert.deepEqual(r.sites, ["http://:8080"]);
    const out = r.caddyfile;
    assert.doesNotMatch(out, /\bweppcloud:8000\b/);
    // Only the three directive lines were replaced; all others are still there.
    const gone = removedLines(src, out);
    assert.deepEqual(
      gone.map((l) => l.trim()),
      ["forward_auth weppcloud:8000 {", "reverse_proxy weppcloud:8000 {", "reverse_proxy weppcloud:8000 {"],
    );
    for (const colour of ["blue", "green"] as const) {
      assert.equal(out.split(`reverse_proxy @bluegreen_${colour} weppcloud-${colour}:8000 {`).length - 1, 2);
      assert.equal(out.split(`forward_auth @bluegreen_${colour} weppcloud-${colour}:8000 {`).length - 1, 1);
    }
    assert.match(out, /@bluegreen_marker_green file \{\n\s+root \/srv\/bluegreen\n\s+try_files \/live-green\n\s+\}/);
    assert.match(out, /vars @bluegreen_marker_green bluegreen_state green/);
    assert.match(out, /@bluegreen_blue not vars bluegreen_state green\n/);
    // The colour copies keep the original's inner lines (header_up etc.).
    const green = out.slice(out.indexOf("forward_auth @bluegreen_green"));
    assert.match(green, /^forward_auth @bluegreen_green weppcloud-green:8000 \{\n\s+uri \/api\/bootstrap\/verify-token\n\s+copy_headers X-Auth-User\n/);
  });

  it("is deterministic and refuses to run twice", () => {
    const src = prodCaddyfile();
    assert.equal(blueGreenCaddyfile(src).caddyfile, blueGreenCaddyfile(src).caddyfile);
    assert.throws(() => blueGreenCaddyfile(blueGreenCaddyfile(src).caddyfile), /already transformed/);
  });

  it("adds canary copies with weighted upstream lists when asked", () => {
    const r = blueGreenCaddyfile(prodCaddyfile(), { canaryPercents: [10, 50] });
    const out = r.caddyfile;
    assert.deepEqual(r.states, ["blue", "green", "canary-blue-10", "canary-blue-50", "canary-green-10", "canary-green-50"]);
    const line = out.split("\n").find((l) => l.includes("reverse_proxy @bluegreen_canary_green_10 "))!;
    const ups = line.trim().split(/\s+/).slice(2, -1);
    assert.equal(ups.length, 10);
    assert.equal(ups.filter((u) => u === "weppcloud-green:8000").length, 1);
    assert.match(out, /reverse_proxy @bluegreen_canary_green_10 [^\n]*\{\n\s+lb_policy random\n/);
    assert.match(out, /@bluegreen_blue not vars bluegreen_state green canary-blue-10 canary-blue-50 canary-green-10 canary-green-50\n/);
    assert.match(out, /try_files \/canary-blue-50\n/);
  });

  it("takes other upstream names, a marker directory and one-line proxies", () => {
    const src = "{\n\tadmin off\n}\n:80 {\n\treverse_proxy /api/* api:1\n\treverse_proxy http://weppcloud:8000\n}\n";
    const out = blueGreenCaddyfile(src, { upstreams: { blue: "127.0.0.1:1", green: "127.0.0.1:2" }, markerDir: "/tmp/m" }).caddyfile;
    assert.match(out, /\treverse_proxy @bluegreen_green 127\.0\.0\.1:2\n\treverse_proxy @bluegreen_blue 127\.0\.0\.1:1\n/);
    assert.match(out, /\treverse_proxy \/api\/\* api:1\n/);
    assert.match(out, /\t\troot \/tmp\/m\n/);
  });

  it("refuses forms it cannot rewrite safely", () => {
    const site = (body: string) => `:80 {\n${body}\n}\n`;
    assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy other:1")), /no reverse_proxy or forward_auth to weppcloud:8000/);
    assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy @x weppcloud:8000")), /matcher on the app proxy/);
    assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000 other:1")), /upstreams beside/);
    assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000 {\n\t\tto weppcloud:8000\n\t}")), /'to' or 'dynamic'/);
    assert.throws(() => blueGreenCaddyfile(site("\treverse_proxy other:1 {\n\t\tto weppcloud:8000\n\t}")), /still used/);
    assert.throws(() => blueGreenCaddyfile("(snip) {\n\treverse_proxy weppcloud:8000\n}\n" + site("\timport snip")), /outside a site block/);
    assert.throws(
      () => blueGreenCaddyfile(site("\treverse_proxy weppcloud:8000 {\n\t\tlb_policy first\n\t}"), { canaryPercents: [10] }),
      /lb_policy/,
    );
  });

  it("points the app proxies at one address for a reload-based switch", () => {
    const out = singleUpstreamCaddyfile(prodCaddyfile(), "127.0.0.1:9");
    assert.doesNotMatch(out, /\bweppcloud:8000\b/);
    assert.equal(out.split("127.0.0.1:9").length - 1, 3);
    assert.deepEqual(removedLines(prodCaddyfile(), out).length, 3);
  });
});

describe("blue/green switch command", () => {
  let host: FakeHost;
  beforeEach(() => {
    host = new FakeHost();
  });
  afterEach(() => host.cleanup());

  /** What bash makes of a command line: the words the program would receive. */
  function wordsAfterBash(line: string): string[] {
    return execFileSync("bash", ["-c", `printf '%s\\0' ${line}`]).toString().split("\0").slice(0, -1);
  }

  /** Runs a built command line as the host does: bash parses it, the bootstrap hands the words after its path to the agent. */
  async function run(line: string) {
    const words = wordsAfterBash(line);
    assert.deepEqual(words.slice(0, 2), ["bash", HOST_SCRIPT]);
    return host.cli(words.slice(2));
  }

  it("switches through the host's command and reports where traffic was and is", async () => {
    const m = path.join(host.dir, "it's $(touch pwned) `id`");
    const r = await run(switchCommand(m, allTo("green")));
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(JSON.parse(r.out[0]), { from: "blue", to: "green" });
    assert.deepEqual(fs.readdirSync(m), ["live-green"]);
    assert.equal(fs.existsSync(path.join(host.dir, "pwned")), false);
    assert.deepEqual(JSON.parse((await run(trafficStateCommand(m))).out[0]), { state: "green" });
    assert.deepEqual(JSON.parse((await run(switchCommand(m, canaryTo("blue", 10)))).out[0]), { from: "green", to: "canary-blue-10" });
  });

  it("the state query refuses an ambiguous directory with exit 3", async () => {
    const m = path.join(host.dir, "m");
    fs.mkdirSync(m);
    fs.writeFileSync(path.join(m, "live-green"), "");
    fs.writeFileSync(path.join(m, "canary-green-10"), "");
    const r = await run(trafficStateCommand(m));
    assert.equal(r.code, 3);
    assert.match(r.err.join("\n"), /more than one blue\/green marker/);
    assert.equal(BLUEGREEN.markerDir, "/srv/bluegreen");
  });
});
