import * as fs from "node:fs";
import * as path from "node:path";
import { HostLayout, RUN_FILES, runDir } from "../contract/layout";
import { DeployRequest, DeployVerdict, Phase, ProgressEvent, Recreated } from "../contract/records";
import type { DeploySettings } from "../contract/settings";
import type { Colour, TrafficState } from "../contract/traffic";
import { Agent } from "./agent";
import { isoTime } from "./clock";
import type { Compose } from "./compose";
import { appendLine, readJsonFile, writeJsonAtomic } from "./files";
import type { StagedRelease } from "./releases";

/*
 * One deploy run: its directory under <root>/runs/<runId>/ holds the request, the progress
 * events (JSON lines the attached client streams), a checkpoint (what the run has changed
 * so far, written before each change, so that whoever finds the run dead knows what to put
 * back) and, at the end, the verdict.
 */

/** What a finished release still has to do; kept in the checkpoint so that recovery can finish a judged run. */
export interface FinishPlan {
  image: string;
  envText: string;
  live: Colour | null;
  images: Record<Colour, string> | null;
  /** Blue/green: the colour that served before, stopped after warmSeconds. */
  retire: Colour | null;
  /** Blue/green: services that follow the release after the switch. */
  converge: string[];
  /** Services to recreate because a secret they mount changed (after the switch on blue/green). */
  recreateAfter: Recreated[];
  recreated: Recreated[];
  message: string;
  switchMs?: number;
  /** Blue/green: the image was already running on the colour switched to (a rollback within warmSeconds): only traffic moved. */
  warm?: boolean;
  backup?: { file: string; bytes: number };
  analysis?: { requests: number; errors: number };
  warnings: string[];
  /** The secret digests this deploy acted on: recorded when it succeeds. */
  secretDigests?: Record<string, string>;
}

export interface Checkpoint {
  runId: string;
  requestId: string;
  phase: Phase;
  startedAt: string;
  startedMs: number;
  /** The release whose settings drive the run. */
  releaseKey: string;
  /** The current release when the run started. */
  liveKey: string | null;
  liveImage: string;
  /** The project files were replaced by the release's (their previous versions are in the run's displaced/). */
  filesInstalled: boolean;
  /** Blue/green: the colour being released, once it was (re)created. */
  target?: Colour;
  targetStarted?: boolean;
  /** Traffic before the first switch, while the new colour is not judged yet: what recovery switches back to. */
  switchedFrom?: string | null;
  switchedAtMs?: number;
  /** One-colour: compose up ran with the new release. */
  upDone?: boolean;
  /** A candidate container that may still exist. */
  candidate?: string;
  /** Every check passed: what is left is finishing, which recovery can complete. */
  finish?: FinishPlan;
  /** The client switched traffic to the warm colour before the run started (blueGreen.ts earlySwitch). */
  preSwitched?: { target: Colour; live: Colour; from: TrafficState; switchMs: number };
}

export function runPaths(layout: HostLayout, runId: string) {
  const dir = runDir(layout, runId);
  return {
    dir,
    request: path.join(dir, RUN_FILES.request),
    events: path.join(dir, RUN_FILES.events),
    checkpoint: path.join(dir, RUN_FILES.checkpoint),
    verdict: path.join(dir, RUN_FILES.verdict),
    judged: path.join(dir, RUN_FILES.judged),
    delivered: path.join(dir, "delivered"),
    displaced: path.join(dir, "displaced"),
  };
}

export interface StoredRequest {
  request: DeployRequest;
  requestId: string;
  receivedMs: number;
}

export function readStoredRequest(layout: HostLayout, runId: string): StoredRequest | undefined {
  return readJsonFile(runPaths(layout, runId).request) as StoredRequest | undefined;
}

export function readCheckpoint(layout: HostLayout, runId: string): Checkpoint | undefined {
  return readJsonFile(runPaths(layout, runId).checkpoint) as Checkpoint | undefined;
}

export function readVerdict(layout: HostLayout, runId: string): DeployVerdict | undefined {
  return readJsonFile(runPaths(layout, runId).verdict) as DeployVerdict | undefined;
}

/** The verdict a client can take: the final one, else the one given when a blue/green release was judged (it converges on). */
export function readDeliverable(layout: HostLayout, runId: string): DeployVerdict | undefined {
  return readVerdict(layout, runId) ?? (readJsonFile(runPaths(layout, runId).judged) as DeployVerdict | undefined);
}

/** Run ids, oldest first. */
export function listRuns(layout: HostLayout): string[] {
  try {
    return fs.readdirSync(layout.runsDir).filter((n) => /^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$/.test(n)).sort();
  } catch {
    return [];
  }
}

/** `<UTC time to the millisecond>-<request id>`: sorted by name, runs are in the order they started. */
/** Removes the directories of old finished runs, keeping the newest `keep` (a run without a verdict is kept for recovery). */
export function pruneRuns(layout: HostLayout, keep = 50): string[] {
  const runs = listRuns(layout);
  const removed: string[] = [];
  for (const runId of runs.slice(0, Math.max(0, runs.length - keep))) {
    if (!fs.existsSync(runPaths(layout, runId).verdict)) continue;
    fs.rmSync(runDir(layout, runId), { recursive: true, force: true });
    removed.push(runId);
  }
  return removed;
}

export function newRunId(nowMs: number, requestId: string): string {
  return `${new Date(nowMs).toISOString().replace(/[-:.]/g, "")}-${requestId.slice(0, 8)}`;
}

/** Why a run failed: where, which gate, what to tell the operator. */
export class RunFailure extends Error {
  constructor(
    readonly phase: Phase,
    readonly reason: string,
    readonly gate?: string,
    readonly logFile?: string,
  ) {
    super(reason);
    this.name = "RunFailure";
  }
}

/** What a pipeline works with. */
export interface RunContext {
  agent: Agent;
  layout: HostLayout;
  runId: string;
  request: DeployRequest;
  release: StagedRelease;
  settings: DeploySettings;
  /** Compose on the release's files and the env file being deployed (.env.next). */
  compose: Compose;
  checkpoint: Checkpoint;
  save(patch: Partial<Checkpoint>): void;
  /** Enters a phase: checkpointed first, then announced. */
  enter(phase: Phase, message: string): Promise<void>;
  say(message: string, level?: ProgressEvent["level"]): Promise<void>;
}

export function progressWriter(agent: Agent, layout: HostLayout, runId: string, phaseOf: () => Phase) {
  const file = runPaths(layout, runId).events;
  return async (message: string, level: ProgressEvent["level"] = "info", phase: Phase = phaseOf()): Promise<void> => {
    const event: ProgressEvent = { time: isoTime(agent.clock.now()), runId, phase, level, message };
    appendLine(file, JSON.stringify(event));
    await agent.onEvent?.(event);
  };
}

export function saveCheckpoint(layout: HostLayout, cp: Checkpoint): void {
  writeJsonAtomic(runPaths(layout, cp.runId).checkpoint, cp);
}
