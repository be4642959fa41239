import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/*
 * What the last rehearsal of a stack left, as Pulumi's state does for `pulumi up`:
 * each resource's inputs (as a digest) and outputs, and the stack outputs. Generated
 * secrets are in it, so the file is 0600 under .rig/ (gitignored), and it is tied to one
 * rig: a new rig has new hosts, on which nothing has run yet.
 */

export interface ResourceRecord {
  type: string;
  name: string;
  inputsHash: string;
  id: string;
  state: Record<string, unknown>;
  /** To undo it when the program no longer declares it: the `delete` command and its connection. */
  delete?: { command: string; connection: Record<string, unknown> };
}

export interface RehearsalState {
  stack: string;
  rig: string;
  updatedAt: string;
  resources: Record<string, ResourceRecord>;
  outputs: Record<string, unknown>;
}

export function resourceKey(type: string, name: string): string {
  return `${type}::${name}`;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function inputsHash(inputs: unknown): string {
  return createHash("sha256").update(JSON.stringify(canonical(inputs)) ?? "").digest("hex");
}

export function statePath(stateDir: string, stack: string): string {
  return path.join(stateDir, "rehearsals", `${stack}.json`);
}

export function loadState(stateDir: string, stack: string, rig: string): RehearsalState {
  const file = statePath(stateDir, stack);
  const empty: RehearsalState = { stack, rig, updatedAt: "", resources: {}, outputs: {} };
  if (!fs.existsSync(file)) return empty;
  const state = JSON.parse(fs.readFileSync(file, "utf8")) as RehearsalState;
  return state.rig === rig ? state : empty;
}

export function saveState(stateDir: string, state: RehearsalState): void {
  const file = statePath(stateDir, state.stack);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
}
