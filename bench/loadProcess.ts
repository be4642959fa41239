import { ChildProcess, fork } from "node:child_process";
import type { LoadOptions, Window } from "./load";

/*
 * The keep-alive clients in a process of their own. The users' browsers are not in the
 * operator's CLI: clients in the bench's process would share its event loop with the
 * stand-in engine's evaluation and the deploy's SSH streams, and slow every command the
 * bench times. They still share the machine's cores, as the rig's hosts do.
 */

/** What the bench asks the clients' process (loadChild.ts answers). */
export type Ask = "mark" | "lastBuild" | "totals" | "stop";
type Reply = { id: number; value: Window | string } | { ready: true } | { error: string };

export interface LoadProcess {
  /** The clients' process. */
  pid: number;
  /** Starts a new window and returns the one that ended. */
  mark(): Promise<Window>;
  /** The build the most recent successful response came from. */
  lastBuild(): Promise<string>;
  /** Every window so far (after stop: all of them). */
  totals(): Promise<Window>;
  /** Stops the clients and their process; returns the last window. */
  stop(): Promise<Window>;
}

export async function startLoadProcess(o: LoadOptions): Promise<LoadProcess> {
  const child: ChildProcess = fork(require.resolve("./loadChild"), [JSON.stringify(o)], {
    execArgv: ["--require", require.resolve("tsx/cjs")],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, { resolve: (v: Window | string) => void; reject: (e: Error) => void }>();
  let exited: Error | undefined;
  let next = 0;
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (m: Reply) => {
      if ("ready" in m) return resolve();
      if ("error" in m) return reject(new Error(`the load clients' process failed: ${m.error}`));
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      w?.resolve(m.value);
    });
    child.on("exit", (code, signal) => {
      exited = new Error(`the load clients' process exited (${signal ?? `code ${code}`})`);
      reject(exited);
      for (const w of waiting.values()) w.reject(exited);
      waiting.clear();
    });
  });
  await ready;
  const ask = <T extends Window | string>(what: Ask): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(exited);
      if (!child.connected) return reject(new Error("the load clients were stopped"));
      const id = next++;
      waiting.set(id, { resolve: resolve as (v: Window | string) => void, reject });
      child.send({ id, ask: what });
    });
  let final: Window | undefined;
  return {
    pid: child.pid!,
    mark: () => ask<Window>("mark"),
    lastBuild: () => ask<string>("lastBuild"),
    totals: () => (final ? Promise.resolve(final) : ask<Window>("totals")),
    async stop() {
      const last = await ask<Window>("stop");
      final = await ask<Window>("totals");
      child.disconnect();
      return last;
    },
  };
}
