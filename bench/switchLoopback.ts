/**
 * Loopback benchmark of the blue/green switching mechanism (issue 5).
 *
 *   npx tsx bench/switch-loopback.ts [--switches 120] [--clients 8] [--interval-ms 200]
 *        [--mechanism both|marker|load] [--canary] [--json out.json] [--max-seconds 300]
 *
 * Starts Debian's caddy (as a child process of this one, config in a temp dir, never as
 * a service) in front of two tiny HTTP backends on 127.0.0.1 that answer with their
 * colour, with wepppy's real production Caddyfile transformed for blue/green. N keep-alive
 * clients that never retry load /weppcloud/... while the traffic is switched M times:
 *  - marker: by the host-side switch command (render/bluegreen/switch.ts), run with bash;
 *  - load:   by POST /load of two full configs (the app upstream blue, or green) to the
 *            admin API on a loopback port, for comparison.
 * Prints a table and writes JSON. All traffic goes to 127.0.0.1; every loop is bounded in
 * count and time; only the processes it started are stopped, by handle.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { blueGreenCaddyfile, singleUpstreamCaddyfile } from "../render/bluegreen/caddyfile";
import { Colour, TrafficState, allTo, canaryTo, otherColour, stateId } from "../render/bluegreen/constants";
import { switchTraffic } from "../host/agent/markers";
import { WEPPPY_REFERENCE_DIR } from "../config/paths";

// --- options -----------------------------------------------------------------------------

interface Options {
  switches: number;
  clients: number;
  intervalMs: number;
  mechanisms: Mechanism[];
  canary: boolean;
  json?: string;
  maxSeconds: number;
  maxRequests: number;
  timeoutMs: number;
  backendKeepAliveMs: number;
  /** Stop the old colour's backend this long after each switch, start it again before the next (-1: never). */
  stopOldMs: number;
  caddyfile: string;
}

type Mechanism = "marker" | "load";

function parseArgs(argv: string[]): Options {
  const o: Options = {
    switches: 120,
    clients: 8,
    intervalMs: 200,
    mechanisms: ["marker", "load"],
    canary: false,
    maxSeconds: 300,
    maxRequests: 2_000_000,
    timeoutMs: 5000,
    backendKeepAliveMs: 2000, // gunicorn's default keepalive for its threaded workers
    stopOldMs: -1,
    caddyfile: path.join(WEPPPY_REFERENCE_DIR, "caddy", "Caddyfile"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(next());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a} needs a non-negative number`);
      return n;
    };
    switch (a) {
      case "--switches": o.switches = num(); break;
      case "--clients": o.clients = Math.max(1, num()); break;
      case "--interval-ms": o.intervalMs = num(); break;
      case "--mechanism": {
        const m = next();
        if (m === "both") o.mechanisms = ["marker", "load"];
        else if (m === "marker" || m === "load") o.mechanisms = [m];
        else throw new Error("--mechanism is both, marker or load");
        break;
      }
      case "--canary": o.canary = true; break;
      case "--json": o.json = next(); break;
      case "--max-seconds": o.maxSeconds = num(); break;
      case "--max-requests": o.maxRequests = num(); break;
      case "--timeout-ms": o.timeoutMs = num(); break;
      case "--backend-keepalive-ms": o.backendKeepAliveMs = num(); break;
      case "--stop-old-ms": o.stopOldMs = num(); break;
      case "--caddyfile": o.caddyfile = next(); break;
      case "-h":
      case "--help":
        console.log(fs.readFileSync(__filename, "utf8").split("\n").slice(1, 17).join("\n"));
        process.exit(0);
      // falls through (unreachable)
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  return o;
}

// --- processes ---------------------------------------------------------------------------

const started: ChildProcess[] = [];
const servers: http.Server[] = [];

function cleanup(): void {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  for (const s of servers) {
    s.closeAllConnections();
    if (s.listening) s.close();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function ensureCaddy(): string {
  let r = spawnSync("caddy", ["version"], { encoding: "utf8" });
  if (r.status !== 0) {
    if (process.getuid?.() !== 0) throw new Error("caddy is not installed: apt-get install -y caddy");
    console.log("caddy not found: apt-get install -y caddy");
    execFileSync("apt-get", ["install", "-y", "caddy"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    r = spawnSync("caddy", ["version"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error("caddy still not runnable after apt-get install");
  }
  return r.stdout.trim().split(/\s+/)[0];
}

interface Backend {
  colour: Colour;
  port: number;
  served: number;
  server: http.Server;
}

/** Stop accepting, close idle keep-alive connections, let in-flight requests finish. */
async function stopBackend(b: Backend): Promise<void> {
  const closed = new Promise<void>((resolve) => b.server.close(() => resolve()));
  b.server.closeIdleConnections();
  await closed;
}

async function restartBackend(b: Backend): Promise<void> {
  if (b.server.listening) return;
  await new Promise<void>((resolve, reject) => {
    b.server.once("error", reject);
    b.server.listen(b.port, "127.0.0.1", () => {
      b.server.off("error", reject);
      resolve();
    });
  });
}

async function startBackend(colour: Colour, keepAliveMs: number): Promise<Backend> {
  const server = http.createServer((req, res) => {
    b.served++;
    req.resume();
    const body = JSON.stringify({ colour, path: req.url });
    res.writeHead(200, { "content-type": "application/json", "x-colour": colour, "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = keepAliveMs;
  const b: Backend = { colour, port: 0, served: 0, server };
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  b.port = (server.address() as net.AddressInfo).port;
  return b;
}

function caddyEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "config"), XDG_DATA_HOME: path.join(dir, "data") };
}

async function startCaddy(dir: string, configFile: string, adapter: "caddyfile" | "json", port: number): Promise<ChildProcess> {
  const log = fs.openSync(path.join(dir, "caddy.log"), "a");
  const args = ["run", "--config", configFile];
  if (adapter === "caddyfile") args.push("--adapter", "caddyfile");
  const child = spawn("caddy", args, { cwd: dir, env: caddyEnv(dir), stdio: ["ignore", log, log] });
  started.push(child);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`caddy exited (${child.exitCode}); see ${path.join(dir, "caddy.log")}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false, timeout: 500, headers: { "X-Forwarded-Proto": "https" } }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
    });
    if (ok) return child;
    await sleep(100);
  }
  throw new Error(`caddy did not answer /health on 127.0.0.1:${port} within 15 s; see ${path.join(dir, "caddy.log")}`);
}

async function stopCaddy(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The production Caddyfile made to listen on one loopback port, with the admin API as given. */
function localise(caddyfile: string, port: number, admin: string): string {
  const site = /^http:\/\/:8080 \{$/m;
  if (!site.test(caddyfile)) throw new Error("expected wepppy's site block 'http://:8080 {' in the Caddyfile");
  const global = /^\{\n/;
  if (!global.test(caddyfile)) throw new Error("expected a global options block at the top of the Caddyfile");
  return caddyfile.replace(global, `{\n\tadmin ${admin}\n`).replace(site, `http://127.0.0.1:${port} {\n\tbind 127.0.0.1`);
}

// --- load ----------------------------------------------------------------------------------

type FailKind = "connectionReset" | "connectionRefused" | "timeout" | "status5xx" | "wrongStatus" | "wrongBody" | "otherError";

interface Stats {
  requests: number;
  ok: number;
  failed: number;
  failedByKind: Record<FailKind, number>;
  perColour: Record<Colour, number>;
  /** Responses from the old colour to requests sent after the switch had completed. */
  staleAfterSwitch: number;
  errorSamples: string[];
}

function newStats(): Stats {
  return {
    requests: 0,
    ok: 0,
    failed: 0,
    failedByKind: { connectionReset: 0, connectionRefused: 0, timeout: 0, status5xx: 0, wrongStatus: 0, wrongBody: 0, otherError: 0 },
    perColour: { blue: 0, green: 0 },
    staleAfterSwitch: 0,
    errorSamples: [],
  };
}

interface SwitchRecord {
  to: string;
  startedAt: number;
  /** When the switch action returned (marker in place / POST /load answered). */
  actionMs: number;
  /** From the start of the switch to the first response from the new colour. */
  latencyMs: number | null;
}

interface LoadState {
  stopAt: number;
  stopped: boolean;
  stats: Stats;
  /** The colour every request sent from now on must reach (null while a switch is under way or in a canary). */
  expect: Colour | null;
  expectSince: number;
  pending: SwitchRecord | null;
  pendingColour: Colour | null;
  maxRequests: number;
}

function fail(s: Stats, kind: FailKind, detail: string): void {
  s.failed++;
  s.failedByKind[kind]++;
  if (s.errorSamples.length < 10) s.errorSamples.push(`${kind}: ${detail}`);
}

function oneRequest(agent: http.Agent, port: number, i: number, timeoutMs: number): Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException; timedOut?: boolean }> {
  return new Promise((resolve) => {
    let timedOut = false;
    const req = http.request(
      { host: "127.0.0.1", port, path: `/weppcloud/bench/${i}`, method: "GET", agent, headers: { "X-Forwarded-Proto": "https" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (error: NodeJS.ErrnoException) => resolve({ error, timedOut }));
      },
    );
    req.setTimeout(timeoutMs, () => {
      timedOut = true;
      req.destroy(new Error("timeout"));
    });
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ error, timedOut }));
    req.end();
  });
}

async function client(port: number, st: LoadState, timeoutMs: number): Promise<void> {
  // One socket per client, kept alive; Node's client does not retry a failed request.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let i = 0;
  try {
    while (!st.stopped && Date.now() < st.stopAt && st.stats.requests < st.maxRequests) {
      const sentAt = Date.now();
      const expect = st.expect;
      const expectSince = st.expectSince;
      st.stats.requests++;
      const r = await oneRequest(agent, port, i++, timeoutMs);
      const s = st.stats;
      if (r.error) {
        const code = r.error.code ?? "";
        if (r.timedOut) fail(s, "timeout", r.error.message);
        else if (code === "ECONNRESET" || /socket hang up/.test(r.error.message)) fail(s, "connectionReset", `${code} ${r.error.message}`);
        else if (code === "ECONNREFUSED") fail(s, "connectionRefused", r.error.message);
        else fail(s, "otherError", `${code} ${r.error.message}`);
        continue;
      }
      if (r.status! >= 500) { fail(s, "status5xx", `${r.status} ${r.body?.slice(0, 120)}`); continue; }
      if (r.status !== 200) { fail(s, "wrongStatus", `${r.status} ${r.body?.slice(0, 120)}`); continue; }
      let colour: Colour;
      try {
        colour = (JSON.parse(r.body!) as { colour: Colour }).colour;
        if (colour !== "blue" && colour !== "green") throw new Error("no colour");
      } catch {
        fail(s, "wrongBody", r.body!.slice(0, 120));
        continue;
      }
      s.ok++;
      s.perColour[colour]++;
      if (expect && sentAt >= expectSince && colour !== expect) s.staleAfterSwitch++;
      const p = st.pending;
      if (p && p.latencyMs === null && colour === st.pendingColour) p.latencyMs = Date.now() - p.startedAt;
    }
  } finally {
    agent.destroy();
  }
}

// --- mechanisms ----------------------------------------------------------------------------

interface RunResult {
  mechanism: Mechanism;
  caddy: string;
  clients: number;
  switches: number;
  seconds: number;
  requests: number;
  failed: number;
  failedByKind: Record<FailKind, number>;
  perColour: Record<Colour, number>;
  staleAfterSwitch: number;
  stopOldMs: number;
  switchActionMs: { p50: number; max: number };
  switchLatencyMs: { p50: number; p95: number; max: number; missing: number };
  errorSamples: string[];
  canary?: { state: string; requests: number; share: number }[];
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function runMechanism(mech: Mechanism, o: Options, caddyVersion: string): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-switch-${mech}-`));
  const markerDir = path.join(dir, "bluegreen");
  fs.mkdirSync(markerDir);
  const blue = await startBackend("blue", o.backendKeepAliveMs);
  const green = await startBackend("green", o.backendKeepAliveMs);
  const upstreams = { blue: `127.0.0.1:${blue.port}`, green: `127.0.0.1:${green.port}` };
  const port = await freePort();
  const src = fs.readFileSync(o.caddyfile, "utf8");
  let caddy: ChildProcess;
  let doSwitch: (to: TrafficState) => Promise<void>;

  if (mech === "marker") {
    const bg = blueGreenCaddyfile(src, { upstreams, markerDir, canaryPercents: o.canary ? [10, 50] : [] });
    const file = path.join(dir, "Caddyfile");
    fs.writeFileSync(file, localise(bg.caddyfile, port, "off"));
    caddy = await startCaddy(dir, file, "caddyfile", port);
    // The host agent's own switch (host/agent/markers.ts), in process: the rename it does on a host.
    doSwitch = async (to) => {
      switchTraffic(markerDir, to);
    };
  } else {
    const adminPort = await freePort();
    const configs = {} as Record<Colour, string>;
    for (const c of ["blue", "green"] as const) {
      const file = path.join(dir, `${c}.Caddyfile`);
      fs.writeFileSync(file, localise(singleUpstreamCaddyfile(src, upstreams[c]), port, `127.0.0.1:${adminPort}`));
      configs[c] = execFileSync("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], {
        cwd: dir,
        env: caddyEnv(dir),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      fs.writeFileSync(path.join(dir, `${c}.json`), configs[c]);
    }
    caddy = await startCaddy(dir, path.join(dir, "blue.json"), "json", port);
    doSwitch = (to) => {
      if (to.kind !== "all") throw new Error("the /load comparison switches whole colours only");
      const body = configs[to.colour];
      return new Promise((resolve, reject) => {
        const req = http.request(
          { host: "127.0.0.1", port: adminPort, path: "/load", method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST /load: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    };
  }

  const t0 = Date.now();
  const st: LoadState = {
    stopAt: t0 + o.maxSeconds * 1000,
    stopped: false,
    stats: newStats(),
    expect: "blue",
    expectSince: t0,
    pending: null,
    pendingColour: null,
    maxRequests: o.maxRequests,
  };
  const clients = Array.from({ length: o.clients }, () => client(port, st, o.timeoutMs));
  const records: SwitchRecord[] = [];
  let live: Colour = "blue";
  const canary: RunResult["canary"] = [];
  try {
    await sleep(1000); // warm: every client has its keep-alive connection
    for (let n = 0; n < o.switches && Date.now() < st.stopAt && st.stats.requests < o.maxRequests; n++) {
      const to = otherColour(live);
      if (o.stopOldMs >= 0) await restartBackend(to === "blue" ? blue : green); // the idle colour is up before traffic moves to it
      const rec: SwitchRecord = { to, startedAt: Date.now(), actionMs: 0, latencyMs: null };
      st.expect = null; // while switching, either colour is right
      st.pending = rec;
      st.pendingColour = to;
      await doSwitch(allTo(to));
      rec.actionMs = Date.now() - rec.startedAt;
      st.expect = to;
      st.expectSince = Date.now();
      records.push(rec);
      const old = live === "blue" ? blue : green;
      live = to;
      if (o.stopOldMs >= 0 && o.stopOldMs < o.intervalMs) {
        await sleep(o.stopOldMs);
        await stopBackend(old);
        await sleep(o.intervalMs - o.stopOldMs);
      } else {
        await sleep(o.intervalMs);
      }
    }
    if (o.stopOldMs >= 0) await Promise.all([restartBackend(blue), restartBackend(green)]);
    if (o.canary && mech === "marker") {
      // Canary steps from the live colour to the other, measured share of the new colour.
      const to = otherColour(live);
      for (const percent of [10, 50]) {
        const state = canaryTo(to, percent);
        st.expect = null; // both colours are right in a canary
        st.pending = null;
        await doSwitch(state);
        const before = { ...st.stats.perColour };
        await sleep(Math.max(2000, o.intervalMs));
        const after = st.stats.perColour;
        const total = after.blue + after.green - before.blue - before.green;
        canary.push({ state: stateId(state), requests: total, share: total ? (after[to] - before[to]) / total : NaN });
      }
      await doSwitch(allTo(live));
    }
    await sleep(500); // the last switch's traffic
  } finally {
    st.stopped = true;
    await Promise.all(clients);
    await stopCaddy(caddy);
    for (const b of [blue, green]) {
      b.server.closeAllConnections();
      if (b.server.listening) b.server.close();
      servers.splice(servers.indexOf(b.server), 1);
    }
  }
  const lat = records.map((r) => r.latencyMs).filter((x): x is number => x !== null);
  const act = records.map((r) => r.actionMs);
  const s = st.stats;
  const result: RunResult = {
    mechanism: mech,
    caddy: caddyVersion,
    clients: o.clients,
    switches: records.length,
    seconds: (Date.now() - t0) / 1000,
    requests: s.requests,
    failed: s.failed,
    failedByKind: s.failedByKind,
    perColour: s.perColour,
    staleAfterSwitch: s.staleAfterSwitch,
    stopOldMs: o.stopOldMs,
    switchActionMs: { p50: quantile(act, 0.5), max: Math.max(0, ...act) },
    switchLatencyMs: { p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), max: Math.max(0, ...lat), missing: records.length - lat.length },
    errorSamples: s.errorSamples,
  };
  if (canary.length) result.canary = canary;
  if (s.failed === 0) fs.rmSync(dir, { recursive: true, force: true });
  else result.errorSamples.push(`(caddy log kept in ${path.join(dir, "caddy.log")})`);
  return result;
}

// --- report --------------------------------------------------------------------------------

function table(results: RunResult[]): string {
  const title: Record<Mechanism, string> = { marker: "file marker (no reload)", load: "POST /load (reload)" };
  const rows: [string, (r: RunResult) => string][] = [
    ["caddy", (r) => r.caddy],
    ["keep-alive clients", (r) => String(r.clients)],
    ["switches", (r) => String(r.switches)],
    ["seconds", (r) => r.seconds.toFixed(1)],
    ["requests", (r) => String(r.requests)],
    ["failed", (r) => String(r.failed)],
    ...(Object.keys(newStats().failedByKind) as FailKind[]).map(
      (k): [string, (r: RunResult) => string] => [`  ${k}`, (r) => String(r.failedByKind[k])],
    ),
    ["served by blue", (r) => String(r.perColour.blue)],
    ["served by green", (r) => String(r.perColour.green)],
    ["old colour after switch", (r) => String(r.staleAfterSwitch)],
    ["old backend stopped ms after switch", (r) => (r.stopOldMs >= 0 ? String(r.stopOldMs) : "never")],
    ["switch action ms p50/max", (r) => `${r.switchActionMs.p50}/${r.switchActionMs.max}`],
    ["switch latency ms p50/p95/max", (r) => `${r.switchLatencyMs.p50}/${r.switchLatencyMs.p95}/${r.switchLatencyMs.max}`],
  ];
  const w0 = Math.max(...rows.map(([n]) => n.length));
  const cols = results.map((r) => Math.max(title[r.mechanism].length, ...rows.map(([, f]) => f(r).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w0) : c.padStart(cols[i - 1]))).join("  ");
  const out = [line(["", ...results.map((r) => title[r.mechanism])]), line(["-".repeat(w0), ...cols.map((w) => "-".repeat(w))])];
  for (const [name, f] of rows) out.push(line([name, ...results.map(f)]));
  for (const r of results) {
    for (const c of r.canary ?? []) out.push(`canary ${c.state}: ${(c.share * 100).toFixed(1)} % of ${c.requests} requests to the new colour`);
    if (r.errorSamples.length) out.push(`${r.mechanism} error samples:`, ...r.errorSamples.map((e) => `  ${e}`));
  }
  return out.join("\n");
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const version = ensureCaddy();
  const results: RunResult[] = [];
  for (const m of o.mechanisms) {
    console.error(`[bench] ${m}: ${o.switches} switches, ${o.clients} keep-alive clients, ${o.intervalMs} ms apart...`);
    results.push(await runMechanism(m, o, version));
  }
  console.log(table(results));
  if (o.json) {
    const report = {
      generatedAt: new Date().toISOString(),
      options: { ...o, caddyfile: path.relative(process.cwd(), o.caddyfile) },
      results: Object.fromEntries(results.map((r) => [r.mechanism, r])),
    };
    fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
    console.error(`[bench] wrote ${o.json}`);
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

main()
  .catch((e: unknown) => {
    console.error(`[bench] ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(cleanup);
