import * as fs from "node:fs";
import { EXIT, LockHolder, LockState, PreemptRequest } from "../contract/records";
import type { HostLayout } from "../contract/layout";
import { Agent, CommandError } from "./agent";
import { isoTime } from "./clock";
import { readJsonFile, writeJsonAtomic } from "./files";

/*
 * The deploy lock: a directory, because mkdir is atomic and, unlike flock, it outlives a
 * killed deploy, so the next one sees that a deploy died half-way instead of carrying on.
 * The holder is JSON with the pid, its start time and the boot id, so a dead holder is
 * told from a live one; a deploy's holder also names its detached container.
 */

export interface LockInfo {
  state: LockState;
  holder: LockHolder | null;
}

export class LockHeld extends CommandError {
  constructor(
    readonly info: LockInfo,
    message: string,
  ) {
    super(message, EXIT.locked);
    this.name = "LockHeld";
  }
}

export function readHolder(layout: HostLayout): LockHolder | null {
  try {
    const v = readJsonFile(layout.lockHolder);
    return v && typeof v === "object" ? (v as LockHolder) : null;
  } catch {
    return null;
  }
}

export async function holderAlive(agent: Agent, h: LockHolder): Promise<boolean> {
  if (h.bootId !== agent.processes.bootId()) return false;
  if (typeof h.pid === "number" && agent.processes.startOf(h.pid) === h.start) return true;
  if (h.container) {
    const c = await agent.docker.inspect(h.container);
    if (c?.running) return true;
  }
  return false;
}

export async function lockInfo(agent: Agent, layout: HostLayout): Promise<LockInfo> {
  if (!fs.existsSync(layout.lockDir)) return { state: "unlocked", holder: null };
  let holder = readHolder(layout);
  if (!holder) {
    // Taken this very moment (mkdir done, holder not yet written): look again shortly.
    await agent.clock.sleep(1000);
    if (!fs.existsSync(layout.lockDir)) return { state: "unlocked", holder: null };
    holder = readHolder(layout);
    if (!holder) return { state: "stale", holder: null };
  }
  return { state: (await holderAlive(agent, holder)) ? "held" : "stale", holder };
}

export function describeHolder(h: LockHolder | null): string {
  if (!h) return "no holder recorded";
  return `${h.action} by ${h.who} since ${h.since} (pid ${h.pid}${h.runId ? `, run ${h.runId}` : ""}${h.container ? `, container ${h.container}` : ""})`;
}

export interface AcquireOptions {
  action: string;
  waitSeconds: number;
  runId?: string;
  requestId?: string;
  container?: string;
  /** A rollback: a judged release converging its other services is asked to let go (requestPreempt) rather than waited for. */
  preempt?: boolean;
}

export function newHolder(agent: Agent, o: AcquireOptions): LockHolder {
  return {
    who: agent.who,
    action: o.action,
    since: isoTime(agent.clock.now()),
    pid: agent.pid,
    start: agent.processes.startOf(agent.pid) ?? 0,
    bootId: agent.processes.bootId(),
    ...(o.runId ? { runId: o.runId } : {}),
    ...(o.requestId ? { requestId: o.requestId } : {}),
    ...(o.container ? { container: o.container } : {}),
  };
}

/**
 * Takes the lock, waiting up to waitSeconds for a live holder (and up to two minutes for a
 * retire, which holds it for a minute at most, or for a judged release converging its other services). A stale or live holder past the wait is a
 * LockHeld naming it; the caller decides (a deploy recovers a dead run first).
 */
export async function acquireLock(agent: Agent, layout: HostLayout, o: AcquireOptions): Promise<LockHolder> {
  fs.mkdirSync(layout.root, { recursive: true });
  const started = agent.clock.now();
  let asked = false;
  for (;;) {
    try {
      fs.mkdirSync(layout.lockDir, { mode: 0o750 });
      const holder = newHolder(agent, o);
      writeJsonAtomic(layout.lockHolder, holder);
      return holder;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const info = await lockInfo(agent, layout);
    if (info.state === "unlocked") continue;
    if (info.state === "stale") {
      throw new LockHeld(info, `stale lock left by a run that did not finish: ${describeHolder(info.holder)}. Check the environment (wepppy-deploy health), then run: wepppy-deploy recover (or break-lock)`);
    }
    const waited = (agent.clock.now() - started) / 1000;
    // A retire, or a judged release converging its other services: both end by themselves within minutes.
    const brief = info.holder?.action === "retire" || info.holder?.converging === true;
    if (waited >= o.waitSeconds && !(brief && waited < 120)) {
      throw new LockHeld(info, `another run holds the lock: ${describeHolder(info.holder)}`);
    }
    if (o.preempt && info.holder?.converging && !asked) asked = requestPreempt(agent, layout, o.requestId ?? o.action);
    // A preempted run lets go within a second or two: look often.
    await agent.clock.sleep(asked ? 200 : 1000);
  }
}

/** The detached runner takes over the lock its client took: same run, its own pid. */
export function takeOverLock(agent: Agent, layout: HostLayout, runId: string): LockHolder {
  const h = readHolder(layout);
  if (!h || h.runId !== runId) throw new CommandError(`the lock is not held for run ${runId} (holder: ${describeHolder(h)})`);
  const mine: LockHolder = { ...h, pid: agent.pid, start: agent.processes.startOf(agent.pid) ?? 0, bootId: agent.processes.bootId() };
  writeJsonAtomic(layout.lockHolder, mine);
  return mine;
}

/** Releases the lock only when `mine` still holds it (same run, or same pid and start). */
export function releaseLock(layout: HostLayout, mine: { pid?: number; start?: number; runId?: string }): void {
  const h = readHolder(layout);
  if (!h) return;
  const same = (mine.runId !== undefined && h.runId === mine.runId) || (mine.pid !== undefined && h.pid === mine.pid && h.start === mine.start);
  if (same) removeLock(layout);
}

export function removeLock(layout: HostLayout): void {
  fs.rmSync(layout.lockDir, { recursive: true, force: true });
}

/** The run is judged and only converges now: later deploys wait for it (acquireLock) instead of being refused. */
export function markConverging(layout: HostLayout, mine: LockHolder): LockHolder {
  const h = readHolder(layout);
  if (!h || h.runId !== mine.runId) return mine;
  const next: LockHolder = { ...h, converging: true };
  writeJsonAtomic(layout.lockHolder, next);
  return next;
}

/** Asks the converging holder to let go (it watches for this: watchPreempt). False when the lock went meanwhile. */
export function requestPreempt(agent: Agent, layout: HostLayout, requestId: string): boolean {
  const ask: PreemptRequest = { requestId, who: agent.who, since: isoTime(agent.clock.now()) };
  try {
    writeJsonAtomic(layout.lockPreempt, ask);
    return true;
  } catch {
    return false;
  }
}

export interface PreemptWatch {
  /** Aborted once a rollback asks for the lock: compose calls under it are stopped. */
  signal: AbortSignal;
  by(): PreemptRequest | undefined;
  stop(): void;
}

/** A converging run watches its lock for a rollback's request to let go. */
export function watchPreempt(agent: Agent, layout: HostLayout, everyMs = 200): PreemptWatch {
  const ctl = new AbortController();
  let by: PreemptRequest | undefined;
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        by = readJsonFile(layout.lockPreempt) as PreemptRequest | undefined;
      } catch {
        by = undefined; // being written: look again
      }
      if (by) {
        ctl.abort();
        return;
      }
      await agent.clock.sleep(everyMs);
    }
  })();
  return { signal: ctl.signal, by: () => by, stop: () => void (stopped = true) };
}
