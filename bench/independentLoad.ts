import { spawn, spawnSync } from "node:child_process";

/*
 * Load from a tool this project did not write, beside the bench's own clients: wrk (Debian's
 * wrk package), keep-alive connections that never retry, run until the bench stops it. wrk
 * prints its totals when interrupted (SIGINT), and counts as failed what the bench's clients
 * would: a connection that could not be made, a read or write that failed, a timeout, and an
 * answer that is not 2xx or 3xx.
 */

export interface SocketErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

export interface WrkTotals {
  requests: number;
  non2xx3xx: number;
  socketErrors: SocketErrors;
}

export interface IndependentLoadResult extends WrkTotals {
  tool: string;
  connections: number;
  url: string;
  seconds: number;
  /** non-2xx/3xx answers plus every socket error. */
  failed: number;
}

/** wrk's summary: "N requests in", and the "Socket errors" and "Non-2xx or 3xx" lines it prints only when they are not 0. */
export function parseWrkOutput(text: string): WrkTotals {
  const requests = /^\s*(\d+) requests in /m.exec(text);
  if (!requests) throw new Error(`not wrk's summary (no "N requests in" line): ${JSON.stringify(text.slice(0, 300))}`);
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(text);
  const non = /^\s*Non-2xx or 3xx responses: (\d+)/m.exec(text);
  return {
    requests: Number(requests[1]),
    non2xx3xx: non ? Number(non[1]) : 0,
    socketErrors: sock ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) } : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

export interface IndependentLoadOptions {
  port: number;
  host?: string;
  path: string;
  connections: number;
  headers?: Record<string, string>;
  timeoutSeconds?: number;
}

export interface IndependentLoad {
  /** Interrupts wrk and reads its totals. */
  stop(): Promise<IndependentLoadResult>;
}

export function startIndependentLoad(o: IndependentLoadOptions): IndependentLoad {
  if (spawnSync("wrk", ["--version"], { stdio: "ignore" }).error) throw new Error("wrk is not installed (the independent load beside the bench's clients): npm run setup installs it");
  const url = `http://${o.host ?? "127.0.0.1"}:${o.port}${o.path}`;
  const args = ["-t", "1", "-c", String(o.connections), "-d", "24h", "--timeout", `${o.timeoutSeconds ?? 10}s`];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push("-H", `${k}: ${v}`);
  const started = Date.now();
  const child = spawn("wrk", [...args, url], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    async stop() {
      const seconds = Math.round(Date.now() - started) / 1000;
      child.kill("SIGINT");
      const code = await exited;
      let totals: WrkTotals;
      try {
        totals = parseWrkOutput(out);
      } catch (err) {
        throw new Error(`wrk (exit ${code}) ${(err as Error).message}`);
      }
      const e = totals.socketErrors;
      return { tool: "wrk", connections: o.connections, url, seconds, ...totals, failed: totals.non2xx3xx + e.connect + e.read + e.write + e.timeout };
    },
  };
}
