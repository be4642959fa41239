import * as crypto from "node:crypto";
import { rigUp, RigStatus } from "../../rig";
import { run, sleep } from "../../rig/exec";

let status: RigStatus | undefined;

/** The rig, brought up if it is not (rigUp is idempotent and quick when the rig is whole). */
export async function ensureRig(): Promise<RigStatus> {
  if (!status) status = await rigUp({ log: (m) => process.stderr.write(`      rig: ${m}\n`) });
  if (!status.up) throw new Error("rig did not come up");
  return status;
}

export function randomName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString("hex")}`;
}

/** curl from the rig machine (only ever to rig host addresses). */
export function curl(args: string[]) {
  return run(["curl", "-sS", "--max-time", "5", ...args]);
}

/** Polls `f` until it returns true or `timeoutMs` passes. */
export async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
