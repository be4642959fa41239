import { HostLayout, hostLayout } from "../contract/layout";
import { EXIT, requestId } from "../contract/records";
import { DeploySettings, readDeploySettingsText } from "../contract/settings";
import { isColour, majorityColour, parseStateId } from "../contract/traffic";
import { DocumentError } from "../contract/check";
import { Agent, CommandError } from "./agent";
import { audit, readAudit } from "./audit";
import { backup, listBackups, verifyDump } from "./backups";
import { attach, deployClient } from "./client";
import { containerOf } from "./docker";
import { readTextFile } from "./files";
import { Say, gateApp, gateServices, projectContainers } from "./gates";
import { describeHolder, lockInfo, removeLock } from "./lock";
import { readTraffic, switchTraffic, trafficId } from "./markers";
import { recoverHost } from "./recover";
import { restore } from "./restore";
import { retire } from "./retire";
import { previousReleaseRequest, rollbackBlueGreen } from "./rollback";
import { executeRun } from "./runner";
import { hostStatus } from "./status";
import { serving } from "./truth";
import { drill } from "./drill";
import { runSoak } from "./soak";
import { runSuites, validationPassed } from "./validate";

/*
 * The agent's command line, the same on every host and by hand (spec Playbooks 3 and 4).
 * One function from argv to an exit code, so that the unit tier runs whole commands.
 */

export const USAGE = `wepppy-deploy: the host side of wepppy-cicd (settings: <root>/deploy.json, written by the stack)

  deploy [--json-progress]        the request (JSON) on stdin; prints progress on stderr, the verdict on stdout
  attach RUNID [--json-progress]  follow a running deploy to its verdict
  recover                         finish or undo runs a crash interrupted, re-arm retires (run at boot)
  boot-hook                       make dockerd run recover at every start (a container, restart unless-stopped)
  status                          live release and digest, the app's own health, colours, lock, running deploy,
                                  last attempt, last backup, the running soak, the live digest's evidence (JSON)
  rollback [--actor WHO]          blue/green: traffic to the warm other colour; one colour: the previous release
  validate [--json]               the stack's validation suites against the live release, each audited as evidence
                                  (--json: {image, digest, ok, evidence} on stdout)
  health [TRIES]                  gate the running app, Postgres and Redis
  backup [--reason R]             pg_dump -Fc, verified by reading it whole; --reason scheduled also runs a restore drill
  verify-backup FILE
  drill [FILE]                    restore drill: the dump (default: the newest) into a scratch database, compared with
                                  the live one, then dropped (audited; the DrillRecord on stdout; exit 1 when it fails)
  restore FILE [--into DB]        DB rollback (stops what uses the DB) or a scratch restore
  backups [--json]                dumps, newest first
  lock-status | break-lock
  audit [-n N]                    the audit log (JSON lines)
  traffic DIR | switch DIR STATE  blue/green marker (no settings needed)
  retire COLOUR TOKEN | soak TOKEN | run RUNID (started by the agent itself)

Exit codes: 0 ok, 1 failed, 2 usage, 3 ambiguous traffic state, 75 lock held (try later).`;

interface Parsed {
  positional: string[];
  flags: Record<string, string | true>;
}

const VALUED = new Set(["--actor", "--reason", "--into", "-n", "--checkout", "--ref", "--root"]);
const BARE = new Set(["--json-progress", "--json", "--help", "-h"]);

export function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUED.has(a)) {
      if (i + 1 >= argv.length) throw new CommandError(`${a} needs a value (see: wepppy-deploy help)`, EXIT.usage);
      out.flags[a] = argv[++i];
    } else if (BARE.has(a)) out.flags[a] = true;
    else if (a.startsWith("-") && a !== "-") throw new CommandError(`unknown option ${a} (see: wepppy-deploy help)`, EXIT.usage);
    else out.positional.push(a);
  }
  return out;
}

export function liveSettingsOf(layout: HostLayout): DeploySettings {
  const text = readTextFile(layout.settings);
  if (text === undefined) throw new CommandError(`no settings at ${layout.settings}: has the stack deployed to this host? (a first deploy writes them)`);
  return readDeploySettingsText(text, layout.settings);
}

function need(p: Parsed, n: number, usage: string): string[] {
  if (p.positional.length !== n) throw new CommandError(`usage: wepppy-deploy ${usage}`, EXIT.usage);
  return p.positional;
}

export async function runCli(agent: Agent, argv: string[], readStdin: () => Promise<string>): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    const p = parseArgs(rest);
    if (typeof p.flags["--actor"] === "string") agent.who = p.flags["--actor"];
    const root = agent.root;
    const rootLayout = hostLayout(root, "/nonexistent-project-dir");
    const live = () => {
      const s = liveSettingsOf(rootLayout);
      return { settings: s, layout: hostLayout(root, s.projectDir) };
    };
    const say = (m: string) => agent.out.say(`[wepppy-deploy] ${m}`);
    switch (cmd) {
      case undefined:
      case "help":
      case "-h":
      case "--help":
        agent.out.print(USAGE);
        return EXIT.ok;
      case "deploy":
        need(p, 0, "deploy [--json-progress] < request.json");
        return await deployClient(agent, rootLayout, await readStdin(), { jsonProgress: p.flags["--json-progress"] === true });
      case "attach": {
        const [runId] = need(p, 1, "attach RUNID");
        return await attach(agent, rootLayout, runId, { jsonProgress: p.flags["--json-progress"] === true });
      }
      case "run": {
        const [runId] = need(p, 1, "run RUNID");
        const v = await executeRun(agent, rootLayout, runId);
        return v.ok ? EXIT.ok : EXIT.failed;
      }
      case "boot-hook": {
        need(p, 0, "boot-hook");
        const { settings } = live();
        const name = `${settings.compose.project}-deploy-boot`;
        const done = await agent.launcher.atEveryStart(name, ["recover"]);
        say(`${name}: ${done} (dockerd runs wepppy-deploy recover at every start)`);
        agent.out.print(JSON.stringify({ container: name, result: done }));
        return EXIT.ok;
      }
      case "recover": {
        need(p, 0, "recover");
        const r = await recoverHost(agent, rootLayout);
        for (const n of r.notes) say(n);
        for (const v of r.recovered) say(`run ${v.runId}: ${v.result}: ${v.message}`);
        agent.out.print(JSON.stringify({ recovered: r.recovered.map((v) => ({ runId: v.runId, result: v.result, phase: v.phase ?? null })), notes: r.notes }));
        return EXIT.ok;
      }
      case "status": {
        need(p, 0, "status");
        const { settings, layout } = live();
        agent.out.print(JSON.stringify(await hostStatus(agent, layout, settings)));
        return EXIT.ok;
      }
      case "rollback": {
        need(p, 0, "rollback [--actor WHO]");
        const { settings, layout } = live();
        if (settings.bluegreen) {
          const r = await rollbackBlueGreen(agent, layout, settings);
          say(`now run: wepppy-cicd rollback --stack ${settings.environment} (so that the stack follows)`);
          agent.out.print(JSON.stringify({ live: r.to, image: r.image, from: r.from, switchMs: r.switchMs }));
          return EXIT.ok;
        }
        const request = previousReleaseRequest(layout, agent.who);
        say(`deploying the previous release again: ${request.image ?? "(compose images)"} with files ${request.releaseKey} (request ${requestId(request)})`);
        return await deployClient(agent, rootLayout, JSON.stringify(request), { jsonProgress: false });
      }
      case "validate": {
        need(p, 0, "validate [--json]");
        const { settings, layout } = live();
        const evidence = await runSuites(agent, layout, settings, say);
        const ok = validationPassed(evidence);
        say(ok ? "validation passed" : `validation failed: ${evidence.filter((e) => e.result === "failed").map((e) => e.suite).join(", ")}`);
        if (p.flags["--json"] === true) {
          const image = evidence[0]?.image ?? (await serving(agent, layout, settings)).liveImage;
          agent.out.print(JSON.stringify({ image, digest: evidence[0]?.digest ?? "", ok, evidence }));
        }
        return ok ? EXIT.ok : EXIT.failed;
      }
      case "drill": {
        const [given] = p.positional.length > 0 ? need(p, 1, "drill [FILE]") : [undefined];
        const { settings, layout } = live();
        let file: string | undefined = given ?? listBackups(settings)[0]?.file;
        if (!file) {
          // A drill proves today's database restores: with no dump yet, it takes one first.
          say(`drill: no dumps in ${settings.backup.dir} yet: taking one first`);
          file = (await auditedBackup(agent, layout, settings, "drill", say)).backup?.file;
          // No database running is not "nothing to lose": its volume may hold the data. No pass.
          if (!file) throw new CommandError(`drill: no dumps in ${settings.backup.dir}, and no ${settings.dbService || "database"} container runs to dump: start it (wepppy-deploy health), then drill`);
        }
        const record = await drill(agent, layout, settings, file, say);
        agent.out.print(JSON.stringify(record));
        return record.result === "passed" ? EXIT.ok : EXIT.failed;
      }
      case "soak": {
        const [token] = need(p, 1, "soak TOKEN");
        if (!/^[0-9a-f]{16}$/.test(token)) throw new CommandError("soak: TOKEN expects 16 hex digits", EXIT.usage);
        const { settings, layout } = live();
        say(await runSoak(agent, layout, settings, token));
        return EXIT.ok;
      }
      case "health": {
        const [tries] = p.positional.length > 0 ? need(p, 1, "health [TRIES]") : ["3"];
        if (!/^[1-9][0-9]{0,3}$/.test(tries)) throw new CommandError("health: TRIES expects a whole number", EXIT.usage);
        const { settings } = live();
        let service = settings.app.service;
        if (settings.bluegreen) {
          const state = readTraffic(settings.bluegreen.markerDir);
          if (!state) throw new CommandError("ambiguous traffic state", EXIT.ambiguous);
          service = settings.bluegreen.services[majorityColour(state)];
        }
        const app = containerOf(await projectContainers(agent, settings), service);
        if (!app?.running) throw new CommandError(`the ${service} service is not running`);
        const failure = (await gateApp(agent, settings, app.id, say, Number(tries))) ?? (await gateServices(agent, settings, say, Number(tries)));
        if (failure) throw new CommandError(failure.reason);
        say("healthy");
        return EXIT.ok;
      }
      case "backup": {
        need(p, 0, "backup [--reason R]");
        const reason = typeof p.flags["--reason"] === "string" ? p.flags["--reason"] : "manual";
        if (!/^[a-z-]{1,32}$/.test(reason)) throw new CommandError("backup: --reason expects a word ([a-z-])", EXIT.usage);
        const { settings, layout } = live();
        const r = await auditedBackup(agent, layout, settings, reason, say);
        agent.out.print(r.backup?.file ?? "");
        // A scheduled backup is proven by restoring it; a failed drill fails the timer's run (the alert).
        if (reason === "scheduled" && settings.backup.drill && r.backup) {
          const d = await drill(agent, layout, settings, r.backup.file, say);
          if (d.result !== "passed") throw new CommandError(`the backup is kept, but its restore drill failed: ${d.reason ?? "?"}`);
        }
        return EXIT.ok;
      }
      case "verify-backup": {
        const [file] = need(p, 1, "verify-backup FILE");
        const { settings } = live();
        const bad = await verifyDump(agent, settings, file);
        if (bad) throw new CommandError(bad);
        say(`${file} reads back whole`);
        return EXIT.ok;
      }
      case "restore": {
        const [file] = need(p, 1, "restore FILE [--into DB]");
        const { settings, layout } = live();
        say(await restore(agent, layout, settings, file, typeof p.flags["--into"] === "string" ? p.flags["--into"] : undefined));
        return EXIT.ok;
      }
      case "backups": {
        need(p, 0, "backups [--json]");
        const list = listBackups(live().settings);
        agent.out.print(p.flags["--json"] === true ? JSON.stringify(list) : list.map((b) => b.file).join("\n"));
        return EXIT.ok;
      }
      case "lock-status": {
        need(p, 0, "lock-status");
        const info = await lockInfo(agent, rootLayout);
        agent.out.print(info.state === "unlocked" ? "unlocked" : `${info.state}: ${describeHolder(info.holder)}`);
        return EXIT.ok;
      }
      case "break-lock": {
        need(p, 0, "break-lock");
        const info = await lockInfo(agent, rootLayout);
        if (info.state === "unlocked") {
          agent.out.print("unlocked");
          return EXIT.ok;
        }
        if (info.state === "held") throw new CommandError(`the lock is held by a running ${describeHolder(info.holder)}`);
        removeLock(rootLayout);
        let env = "unknown";
        try {
          env = liveSettingsOf(rootLayout).environment;
        } catch {
          // no settings yet: the record still says what was removed
        }
        audit(agent, rootLayout, env, { action: "break-lock", result: "ok", image: "", ...(info.holder ? { holder: info.holder } : {}), note: `removed stale lock: ${describeHolder(info.holder)}` });
        say(`removed stale lock: ${describeHolder(info.holder)}`);
        return EXIT.ok;
      }
      case "audit": {
        need(p, 0, "audit [-n N]");
        const n = typeof p.flags["-n"] === "string" ? p.flags["-n"] : "50";
        if (!/^[1-9][0-9]{0,5}$/.test(n)) throw new CommandError("audit: -n expects a whole number", EXIT.usage);
        const lines = readAudit(rootLayout, Number(n)).map((r) => JSON.stringify(r));
        if (lines.length > 0) agent.out.print(lines.join("\n"));
        return EXIT.ok;
      }
      case "traffic": {
        const [dir] = need(p, 1, "traffic DIR");
        const state = readTraffic(dir);
        if (!state) throw new CommandError(`more than one blue/green marker in ${dir}`, EXIT.ambiguous);
        agent.out.print(JSON.stringify({ state: trafficId(state) }));
        return EXIT.ok;
      }
      case "switch": {
        const [dir, to] = need(p, 2, "switch DIR STATE");
        let state;
        try {
          state = parseStateId(to);
        } catch (err) {
          throw new CommandError(`switch: ${(err as Error).message}`, EXIT.usage);
        }
        agent.out.print(JSON.stringify(switchTraffic(dir, state)));
        return EXIT.ok;
      }
      case "retire": {
        const [colour, token] = need(p, 2, "retire COLOUR TOKEN");
        if (!isColour(colour)) throw new CommandError("retire: expects blue or green", EXIT.usage);
        const { settings, layout } = live();
        say(await retire(agent, layout, settings, colour, token, layout.envFile));
        return EXIT.ok;
      }
      default:
        throw new CommandError(`unknown command '${cmd}' (see: wepppy-deploy help)`, EXIT.usage);
    }
  } catch (err) {
    if (err instanceof CommandError) {
      agent.out.say(`[wepppy-deploy] error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof DocumentError) {
      agent.out.say(`[wepppy-deploy] error: ${err.message}`);
      return EXIT.failed;
    }
    agent.out.say(`[wepppy-deploy] error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.failed;
  }
}

/** A backup, audited (action backup: ok, skipped when no database runs, failed with the reason, which is thrown). */
async function auditedBackup(agent: Agent, layout: HostLayout, settings: DeploySettings, reason: string, say: Say) {
  const started = agent.clock.now();
  const image = (await serving(agent, layout, settings)).liveImage;
  const r = await backup(agent, settings, reason, say);
  if (!r.ok) {
    audit(agent, layout, settings.environment, { action: "backup", result: "failed", image, reason: `${reason}: ${r.reason}`, gate: "backup", startedMs: started });
    throw new CommandError(r.reason);
  }
  audit(agent, layout, settings.environment, { action: "backup", result: r.backup ? "ok" : "skipped", image, startedMs: started, ...(r.backup ? { backup: { file: r.backup.file, bytes: r.backup.bytes }, file: r.backup.file } : {}), note: r.note ?? reason });
  return r;
}
