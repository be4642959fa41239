import * as http from "node:http";

/*
 * Keep-alive HTTP load that never retries: what a browser on a long-lived connection
 * sees through a switch. Each client owns one socket; every response is classified, and
 * the build that answered (X-Weppcloud-Build) is recorded so that a switch can be timed
 * from the client's side.
 */

export type FailKind = "connectionReset" | "connectionRefused" | "timeout" | "status5xx" | "wrongStatus" | "otherError";

export const FAIL_KINDS: FailKind[] = ["connectionReset", "connectionRefused", "timeout", "status5xx", "wrongStatus", "otherError"];

export interface LoadOptions {
  port: number;
  host?: string;
  clients: number;
  paths: string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface Window {
  requests: number;
  failed: number;
  failedByKind: Record<FailKind, number>;
  /** Responses per build (X-Weppcloud-Build). */
  builds: Record<string, number>;
  /** When each build was first and last seen in this window (ms since the epoch). */
  seen: Record<string, { first: number; last: number }>;
  /** When 5xx were first and last seen. */
  fiveXx: { first: number; last: number } | null;
  samples: string[];
}

function emptyWindow(): Window {
  return {
    requests: 0,
    failed: 0,
    failedByKind: Object.fromEntries(FAIL_KINDS.map((k) => [k, 0])) as Record<FailKind, number>,
    builds: {},
    seen: {},
    fiveXx: null,
    samples: [],
  };
}

export interface Load {
  /** Starts a new window and returns the one that ended. */
  mark(): Window;
  /** The build the most recent successful response came from. */
  lastBuild(): string;
  stop(): Promise<Window>;
  totals(): Window;
}

function add(total: Window, w: Window): void {
  total.requests += w.requests;
  total.failed += w.failed;
  for (const k of FAIL_KINDS) total.failedByKind[k] += w.failedByKind[k];
  for (const [b, n] of Object.entries(w.builds)) total.builds[b] = (total.builds[b] ?? 0) + n;
  for (const s of w.samples) if (total.samples.length < 20) total.samples.push(s);
}

export function startLoad(o: LoadOptions): Load {
  let current = emptyWindow();
  const total = emptyWindow();
  let stopped = false;
  let last = "";
  const timeoutMs = o.timeoutMs ?? 10_000;

  const fail = (kind: FailKind, detail: string) => {
    current.failed++;
    current.failedByKind[kind]++;
    if (current.samples.length < 10) current.samples.push(`${new Date().toISOString()} ${kind}: ${detail}`);
  };

  const one = (agent: http.Agent, path: string) =>
    new Promise<void>((resolve) => {
      let timedOut = false;
      const req = http.request({ host: o.host ?? "127.0.0.1", port: o.port, path, agent, headers: o.headers }, (res) => {
        res.resume();
        res.on("end", () => {
          const now = Date.now();
          const status = res.statusCode ?? 0;
          const build = String(res.headers["x-weppcloud-build"] ?? "");
          if (status >= 500) {
            fail("status5xx", `${status} ${path} from ${build || "?"}`);
            current.fiveXx = { first: current.fiveXx?.first ?? now, last: now };
          } else if (status !== 200) {
            fail("wrongStatus", `${status} ${path}`);
          } else if (build) {
            last = build;
            current.builds[build] = (current.builds[build] ?? 0) + 1;
            const seen = current.seen[build];
            current.seen[build] = { first: seen?.first ?? now, last: now };
          } else {
            fail("wrongStatus", `200 without X-Weppcloud-Build on ${path}: not answered by the app`);
          }
          resolve();
        });
        res.on("error", (e: NodeJS.ErrnoException) => {
          fail("connectionReset", `${e.code ?? ""} ${e.message} (mid-response)`);
          resolve();
        });
      });
      req.setTimeout(timeoutMs, () => {
        timedOut = true;
        req.destroy(new Error("timeout"));
      });
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (timedOut) fail("timeout", path);
        else if (e.code === "ECONNRESET" || /socket hang up/.test(e.message)) fail("connectionReset", `${e.code ?? ""} ${e.message}`);
        else if (e.code === "ECONNREFUSED") fail("connectionRefused", e.message);
        else fail("otherError", `${e.code ?? ""} ${e.message}`);
        resolve();
      });
      req.end();
    });

  const clients = Array.from({ length: o.clients }, async (_, c) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let i = c;
    while (!stopped) {
      current.requests++;
      await one(agent, o.paths[i++ % o.paths.length]);
    }
    agent.destroy();
  });

  return {
    mark() {
      const ended = current;
      add(total, ended);
      current = emptyWindow();
      return ended;
    },
    lastBuild: () => last,
    totals: () => total,
    async stop() {
      stopped = true;
      await Promise.all(clients);
      const ended = current;
      add(total, ended);
      current = emptyWindow();
      return ended;
    },
  };
}
