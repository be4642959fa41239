import { StackConfig } from "../config/schema";
import type { EvidenceSummary } from "../host/contract/records";
import { OpsError, judgeConfig } from "./common";
import { describeUpdate, fullHistory, newestSucceeded, startOf } from "./history";
import { Leaves, intendedImage, leavesOf } from "./intent";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd status`: what the stack must have live (its newest succeeded update, and
 * whether this checkout agrees), what its last update left (outputs: the image and colours
 * the host reported), its newest update attempt, and what the host says now.
 */

export interface StatusResult {
  stack: string;
  /** False when the config is not valid or the host could not be asked. */
  ok: boolean;
  /** What the newest succeeded update said must be live, and its release. */
  intent: { image?: string; release?: string; update?: string } | null;
  /** Whether this checkout holds the same intent (a CI job's fresh checkout does not until `config sync`). */
  checkout: { image?: string; release?: string; inSync: boolean; problems?: string[] };
  outputs: Record<string, unknown>;
  lastUpdate: { result: string; startTime?: string; endTime?: string; message?: string } | null;
  host: Record<string, unknown>;
  /** The host's evidence for its live digest (suites, soak, drills, rolled back), as status on the host reports it. */
  evidence: EvidenceSummary | null;
}

export interface StatusOptions {
  stack: StackHandle;
  hostStatus: () => Promise<Record<string, unknown>>;
  sourceDir?: string;
}

const SHOWN_OUTPUTS = ["url", "imageRef", "imageDigest", "imageSource", "deployed", "bluegreen", "release", "sourceLive"];

function iso(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : undefined;
}

function same(a: Leaves, b: Leaves): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function status(options: StatusOptions): Promise<StatusResult> {
  const name = options.stack.name;
  const map = await options.stack.getAllConfig();
  let problems: string[] | undefined;
  let config: StackConfig | undefined;
  try {
    config = judgeConfig(name, map, options.sourceDir);
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    problems = err.message.split("\n").slice(1);
  }
  void config;

  const outputs: Record<string, unknown> = {};
  try {
    const all = await options.stack.outputs();
    for (const key of SHOWN_OUTPUTS) if (all[key] && !all[key].secret) outputs[key] = all[key].value;
  } catch (err) {
    outputs.error = `outputs not readable: ${err instanceof Error ? err.message.split("\n")[0] : err}`;
  }

  const history = await fullHistory(options.stack).catch(() => []);
  const newest = history[0];
  const deployed = newestSucceeded(history);
  const lastUpdate = newest ? { result: newest.result, startTime: iso(newest.startTime), endTime: iso(newest.endTime), message: newest.message } : null;
  const intent = deployed ? { image: intendedImage(deployed.config ?? {}), release: leavesOf(deployed.config ?? {})["release.id"], update: startOf(deployed) } : null;
  const inSync = !deployed || same(leavesOf(deployed.config ?? {}), leavesOf(map));

  let host: Record<string, unknown>;
  let hostOk = true;
  try {
    host = await options.hostStatus();
  } catch (err) {
    hostOk = false;
    host = { error: err instanceof Error ? err.message : String(err) };
  }
  return {
    stack: name,
    ok: hostOk && !problems,
    intent,
    checkout: { image: intendedImage(map), release: leavesOf(map)["release.id"], inSync, ...(problems ? { problems } : {}) },
    outputs,
    lastUpdate: lastUpdate ? { ...lastUpdate, ...(deployed && deployed !== newest ? { message: `${lastUpdate.message ?? ""} (the newest succeeded is ${describeUpdate(deployed)})`.trim() } : {}) } : null,
    host,
    evidence: evidenceOf(host),
  };
}

function evidenceOf(host: Record<string, unknown>): EvidenceSummary | null {
  const e = host.evidence as Partial<EvidenceSummary> | undefined;
  return e && typeof e === "object" && Array.isArray(e.suites) && Array.isArray(e.drills) && typeof e.digest === "string" ? (e as EvidenceSummary) : null;
}
