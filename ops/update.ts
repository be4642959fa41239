import type { ConfigMap, OutputMap } from "@pulumi/pulumi/automation";
import { ChangeKey, Changes, IntentLeaf, WHOLE, leafKey, leavesOf, normalized } from "./intent";
import { redactUpdateText, redactingLines, secretValuesOf } from "./redact";
import type { StackHandle } from "./stackHandle";
import { POLICY_PACK_CONFIG, POLICY_PACK_DIR } from "../config/paths";

/** This program's policy pack at its committed levels, on every preview and update the operator core runs. */
const POLICY = { policyPacks: [POLICY_PACK_DIR], policyPackConfigs: [POLICY_PACK_CONFIG] };

/*
 * The update every release command runs: write the intent leaves that change (one by one,
 * `config set --path` / `config rm --path`), `pulumi up`, and when anything fails put back
 * exactly the leaves that were there, and check that they are back. What the update
 * prints is redacted before it is logged or returned.
 */

export interface UpdateOutcome {
  ok: boolean;
  /** The config keys written (and restored again when the update failed). */
  keys: string[];
  result: string;
  startTime?: string;
  error?: string;
  restored?: boolean;
  outputs?: OutputMap;
}

export type LeafChanges = Changes;

/** Writes the changes: removals with `config rm --path`, values with `config set-all --path`. */
export async function writeLeaves(stack: StackHandle, requested: LeafChanges): Promise<string[]> {
  const present = leavesOf(await stack.getAllConfig());
  const changes = normalized(requested, present);
  const holds = (k: ChangeKey) => (k in WHOLE ? WHOLE[k as keyof typeof WHOLE].some((l) => present[l] !== undefined) : present[k as IntentLeaf] !== undefined);
  const entries = Object.entries(changes) as Array<[ChangeKey, string | undefined]>;
  for (const [leaf] of entries.filter(([k, v]) => v === undefined && holds(k))) await stack.removeConfig(leafKey(leaf), true);
  const set = Object.fromEntries(entries.filter(([, v]) => v !== undefined).map(([leaf, v]) => [leafKey(leaf), { value: v!, secret: false }]));
  if (Object.keys(set).length > 0) await stack.setAllConfig(set, true);
  return entries.map(([leaf]) => leafKey(leaf)).sort();
}

function lastLines(text: string, n = 12): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

export async function applyAndUp(stack: StackHandle, before: ConfigMap, changes: LeafChanges, message: string, log: (l: string) => void): Promise<UpdateOutcome> {
  const secrets = secretValuesOf(before);
  const line = redactingLines(secrets, (l) => {
    if (l.trim()) log(`  ${l.trimEnd()}`);
  });
  let partial = "";
  const onOutput = (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    lines.forEach(line);
  };
  let keys: string[] = [];
  try {
    keys = await writeLeaves(stack, changes);
    if (keys.length > 0) log(`${stack.name}: set ${keys.join(", ")}`);
    // The quality gates judge the update before anything runs: up alone (--skip-preview) would judge the stack's policies only after its deploy.
    log(`${stack.name}: previewing with the quality gates (pulumi preview --policy-pack) ...`);
    await stack.preview({ message, onOutput, ...POLICY });
    log(`${stack.name}: running the update (pulumi up) ...`);
    const result = await stack.up({ message, onOutput, ...POLICY });
    if (partial) line(partial);
    if (result.summary.result !== "succeeded") throw new Error(lastLines(result.stderr || result.stdout) || `the update ended "${result.summary.result}"`);
    return { ok: true, keys, result: result.summary.result, startTime: new Date(result.summary.startTime).toISOString(), outputs: result.outputs };
  } catch (err) {
    if (partial) line(partial);
    const error = lastLines(redactUpdateText(err instanceof Error ? err.message : String(err), secrets));
    log(`${stack.name}: the update failed; putting the config back as it was`);
    let restored = false;
    try {
      const was = leavesOf(before);
      const touched = (Object.keys(changes) as ChangeKey[]).flatMap((k): IntentLeaf[] => (k in WHOLE ? WHOLE[k as keyof typeof WHOLE] : [k as IntentLeaf]));
      const back: LeafChanges = {};
      for (const leaf of touched) back[leaf] = was[leaf];
      await writeLeaves(stack, back);
      const now = leavesOf(await stack.getAllConfig());
      restored = touched.every((leaf) => now[leaf] === was[leaf]);
    } catch (restoreErr) {
      log(`${stack.name}: could not put the config back: ${restoreErr instanceof Error ? restoreErr.message.split("\n")[0] : restoreErr}`);
    }
    return { ok: false, keys, result: "failed", error, restored };
  }
}
