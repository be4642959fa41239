import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd cancel`: after a CLI (a CI job, an operator's shell) was killed mid-update,
 * the file backend keeps its lock and every later update is refused until `pulumi cancel`
 * removes it. The host is not part of that: its agent finishes (or undoes) the deploy by
 * itself, and the next update's deploy attaches to that run or takes its verdict instead of
 * starting another. This removes the lock and says what the host is doing.
 */

export interface CancelResult {
  stack: string;
  ok: boolean;
  summary: string;
  /** What the host reports: the run under way (if any) and the deploy lock. */
  host?: { run: unknown; lock: unknown } | { error: string };
  notes: string[];
}

export async function cancel(o: { stack: StackHandle; hostStatus?: () => Promise<Record<string, unknown>>; log?: (line: string) => void }): Promise<CancelResult> {
  const log = o.log ?? (() => undefined);
  log(`${o.stack.name}: removing the update lock (pulumi cancel) ...`);
  await o.stack.cancel();
  const notes = ["the next update (pulumi up, release, promote, rollback) attaches to a deploy the host still runs, or takes the verdict of one that finished; none runs twice"];
  let host: CancelResult["host"];
  if (o.hostStatus) {
    try {
      const s = await o.hostStatus();
      host = { run: s.run ?? null, lock: s.lock ?? null };
      if (s.run) notes.unshift(`the host is still running a deploy: ${JSON.stringify(s.run)}`);
    } catch (err) {
      host = { error: (err as Error).message.split("\n")[0] };
    }
  }
  return { stack: o.stack.name, ok: true, summary: `${o.stack.name}: the update lock is removed`, ...(host ? { host } : {}), notes };
}
