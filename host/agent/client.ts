import * as fs from "node:fs";
import { HostLayout, hostLayout } from "../contract/layout";
import { DeployRequest, DeployVerdict, EXIT, ProgressEvent, isRollbackRequest, readDeployRequestText, requestId } from "../contract/records";
import { Agent, CommandError } from "./agent";
import { parseStateId } from "../contract/traffic";
import { audit } from "./audit";
import { earlySwitch } from "./blueGreen";
import { writeJsonAtomic } from "./files";
import { LockHeld, acquireLock, describeHolder, holderAlive, lockInfo, readHolder, releaseLock } from "./lock";
import { switchTraffic } from "./markers";
import { loadRelease } from "./releases";
import { recoverRun } from "./recover";
import { Checkpoint, StoredRequest, listRuns, newRunId, progressWriter, readDeliverable, readStoredRequest, readVerdict, runPaths, saveCheckpoint } from "./run";
import { initialCheckpoint } from "./runner";

/*
 * The SSH side of a deploy. `deploy` reads the request on stdin, takes the lock for a new
 * run, starts the run detached (a container of its own: it goes on when SSH drops) and
 * attaches: progress on stderr, the verdict as one JSON line on stdout. The same request
 * again (a reconnect, the next `pulumi up`) attaches to the run that is going on, or is
 * given the verdict that no client received; it never starts a second run. Another
 * request while one runs is refused (exit 75) with the holder named.
 */

export interface AttachOptions {
  jsonProgress: boolean;
}

const POLL_MS = 200;
const LIVENESS_EVERY_MS = 2000;

export function formatEvent(e: ProgressEvent): string {
  return `[wepppy-deploy ${e.time.slice(11, 19)}] ${e.phase}: ${e.level === "info" ? "" : `${e.level}: `}${e.message}`;
}

function exitOf(v: DeployVerdict): number {
  return v.ok ? EXIT.ok : EXIT.failed;
}

async function containerRunning(agent: Agent, name: string | undefined): Promise<boolean> {
  return name !== undefined && (await agent.docker.inspect(name))?.running === true;
}

/** The newest run of a request, if any. */
export function latestRunOf(layout: HostLayout, id: string): string | undefined {
  return listRuns(layout)
    .filter((r) => r.endsWith(`-${id.slice(0, 8)}`) && readStoredRequest(layout, r)?.requestId === id)
    .pop();
}

/** Ends a client whose SSH session is gone (see Agent.clientPid). */
export class ClientGone extends CommandError {
  constructor() {
    super("the client that started this command is gone: the run goes on; reconnect with the same request, or attach", EXIT.failed);
    this.name = "ClientGone";
  }
}

function clientWatch(agent: Agent): () => boolean {
  if (agent.clientPid === undefined) return () => true;
  const start = agent.processes.startOf(agent.clientPid);
  return () => start !== null && agent.processes.startOf(agent.clientPid!) === start;
}

export async function attach(agent: Agent, layout: HostLayout, runId: string, o: AttachOptions): Promise<number> {
  const paths = runPaths(layout, runId);
  const clientAlive = clientWatch(agent);
  if (!readStoredRequest(layout, runId)) throw new CommandError(`no run ${runId} on this host (see: wepppy-deploy status)`, EXIT.usage);
  let offset = 0;
  let nextLiveness = agent.clock.now() + LIVENESS_EVERY_MS;
  const flush = () => {
    let text = "";
    try {
      const fd = fs.openSync(paths.events, "r");
      try {
        const size = fs.fstatSync(fd).size;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          fs.readSync(fd, buf, 0, buf.length, offset);
          text = buf.toString("utf8");
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return;
    }
    const end = text.lastIndexOf("\n");
    if (end < 0) return;
    offset += Buffer.byteLength(text.slice(0, end + 1), "utf8");
    for (const line of text.slice(0, end).split("\n")) {
      if (!line.trim()) continue;
      if (o.jsonProgress) agent.out.say(line);
      else {
        try {
          agent.out.say(formatEvent(JSON.parse(line) as ProgressEvent));
        } catch {
          agent.out.say(line);
        }
      }
    }
  };
  const deliver = (v: DeployVerdict) => {
    if (!clientAlive()) throw new ClientGone();
    flush();
    agent.out.print(JSON.stringify(v));
    fs.writeFileSync(paths.delivered, "");
    return exitOf(v);
  };
  for (;;) {
    flush();
    const v = readDeliverable(layout, runId);
    if (v) return deliver(v);
    if (agent.clock.now() >= nextLiveness) {
      nextLiveness = agent.clock.now() + LIVENESS_EVERY_MS;
      if (!clientAlive()) throw new ClientGone();
      const h = readHolder(layout);
      const mine = h?.runId === runId;
      // Until the runner takes the lock over, its holder names this very client: then only the
      // runner's container says whether the run is alive (one that exited before it began is dead).
      const alive = mine && (h!.pid === agent.pid ? await containerRunning(agent, h!.container) : await holderAlive(agent, h!));
      if (!alive) {
        // The verdict may have landed just now; only a run with none is recovered.
        const again = readDeliverable(layout, runId);
        if (again) return deliver(again);
        agent.out.say(`[wepppy-deploy] run ${runId} stopped without a verdict: recovering`);
        const recovered = await recoverRun(agent, layout, runId);
        if (recovered) return deliver(recovered);
        throw new CommandError(`run ${runId} died before it started; nothing was changed`);
      }
    }
    await agent.clock.sleep(POLL_MS);
  }
}

function refuse(agent: Agent, layout: HostLayout, env: string, request: DeployRequest, message: string, code: number): never {
  audit(agent, layout, env, { action: request.action === "rollback" ? "rollback" : "deploy", result: "refused", image: request.image ?? "", release: request.release, reason: message });
  throw new CommandError(message, code);
}

export async function deployClient(agent: Agent, layout: HostLayout, requestText: string, o: AttachOptions): Promise<number> {
  let request: DeployRequest;
  try {
    request = readDeployRequestText(requestText, "deploy request (stdin)");
  } catch (err) {
    throw new CommandError(`${(err as Error).message}\nnothing was changed`, EXIT.usage);
  }
  const id = requestId(request);
  let info = await lockInfo(agent, layout);
  if (info.state === "held" && info.holder?.requestId === id && info.holder.runId) {
    agent.out.say(`[wepppy-deploy] this request is running as ${info.holder.runId}: attaching`);
    return attach(agent, layout, info.holder.runId, o);
  }
  if (info.state === "stale" && info.holder?.runId) {
    const v = await recoverRun(agent, layout, info.holder.runId);
    if (v) agent.out.say(`[wepppy-deploy] run ${v.runId} had stopped without a verdict; recovered: ${v.message}`);
    info = await lockInfo(agent, layout);
  }
  const prior = latestRunOf(layout, id);
  const priorVerdict = prior ? readVerdict(layout, prior) : undefined;
  if (prior && priorVerdict && priorVerdict.result !== "interrupted" && !fs.existsSync(runPaths(layout, prior).delivered)) {
    agent.out.say(`[wepppy-deploy] this request ran as ${prior}, and no client received its verdict: here it is`);
    return attach(agent, layout, prior, o);
  }
  const release = loadRelease(layout, request.releaseKey);
  const settings = release.settings;
  if (info.state === "stale") {
    refuse(agent, layout, settings.environment, request, `stale lock: ${describeHolder(info.holder)}. Check the environment (wepppy-deploy health), then run: wepppy-deploy break-lock`, EXIT.locked);
  }
  const runId = newRunId(agent.clock.now(), id);
  const container = `${settings.compose.project}-deploy-${runId}`.toLowerCase();
  try {
    await acquireLock(agent, layout, { action: request.action, runId, requestId: id, container, waitSeconds: settings.lockWaitSeconds, preempt: isRollbackRequest(request) });
  } catch (err) {
    if (err instanceof LockHeld) {
      if (err.info.holder?.requestId === id && err.info.holder.runId) return attach(agent, layout, err.info.holder.runId, o);
      refuse(agent, layout, settings.environment, request, err.message, EXIT.locked);
    }
    throw err;
  }
  const stored: StoredRequest = { request, requestId: id, receivedMs: agent.clock.now() };
  let cp: Checkpoint | undefined;
  try {
    writeJsonAtomic(runPaths(layout, runId).request, stored);
    cp = initialCheckpoint(runId, stored, stored.receivedMs);
    saveCheckpoint(layout, cp);
    // A warm colour is switched to here: the detached run's container takes longer to start than the switch.
    const phase = cp;
    const say = progressWriter(agent, layout, runId, () => phase.phase);
    await earlySwitch(agent, hostLayout(layout.root, settings.projectDir), release, cp, request.image, stored.receivedMs, (m) => say(m));
    await agent.launcher.detach(container, ["run", runId]);
  } catch (err) {
    let back = "nothing was changed";
    if (cp?.switchedFrom && settings.bluegreen) {
      // An early switch is put back (no run will judge it), and forgotten: a later recover must not repeat it.
      switchTraffic(settings.bluegreen.markerDir, parseStateId(cp.switchedFrom));
      back = `traffic is back on ${cp.switchedFrom}`;
      saveCheckpoint(layout, initialCheckpoint(runId, stored, stored.receivedMs));
    }
    releaseLock(layout, { runId });
    throw new CommandError(`cannot start run ${runId}: ${(err as Error).message}; ${back}`);
  }
  agent.out.say(`[wepppy-deploy] run ${runId} started (${container}); attach again with: wepppy-deploy attach ${runId}`);
  return attach(agent, layout, runId, o);
}
