import { Command } from "commander";
import { z } from "zod";
import { bluegreen } from "../config/sections/bluegreen";
import { runSwitchBench, switchBenchTable, writeReport } from "../bench/rigSwitch";
import { DROP_PHASES, DropPhase, dropBenchTable, runDropBench, writeDropReport } from "../bench/rigDrop";
import { CaddyChangeWay, caddyReloadTable, runCaddyReloadBench, writeCaddyReloadReport } from "../bench/rigCaddyReload";
import { UsageError, progress, wholeNumber } from "./io";
import type { Cli } from "./main";

/** --canary 10,50 (or none), judged by the stack schema's own rule; not given: the stack's own steps. */
function canarySteps(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  if (text === "none") return [];
  const steps = text.split(",").map(Number);
  const r = (bluegreen.shape.canary as z.ZodType).safeParse(steps);
  if (!r.success) throw new UsageError(`--canary expects rising percentages, multiples of 5 between 5 and 95 (e.g. 10,50), or none, got "${text}"`);
  return steps;
}

export function registerBench(program: Command, cli: Cli): void {
  const bench = program.command("bench").summary("benchmarks on the rig: bench switch, bench drop, bench caddy-reload");
  bench
    .command("drop")
    .summary("a deploy survives its client: kill the CLI at each phase of a prod release, restart the host")
    .description(
      `prod (wepp1) gets one release per case, each run by the CLI in its own process as a CI job
runs it. The client is killed when the host's run reaches a phase (${DROP_PHASES.join(", ")});
the killed CLI's backend lock is removed (wepppy-cicd cancel) and the same update runs again,
which must attach to the host's run or take its verdict. Then the host is restarted once
mid-release (at the gate) and once while idle. Each case is checked on the host: one verdict
per run, the lock released, the release live and served. Prints a table; --json FILE writes
{cases: [{phase, caught, verdict, live, served, lockReleased, auditRecords, runs, consistent}]}.`,
    )
    .option("--phases <p,p>", `only these phases (${DROP_PHASES.join(",")})`)
    .option("--json <file>", "write the report as JSON")
    .action(async (opts: { phases?: string; json?: string }) => {
      const phases = opts.phases?.split(",");
      const unknown = phases?.filter((p) => !(DROP_PHASES as readonly string[]).includes(p)) ?? [];
      if (unknown.length) throw new UsageError(`--phases: unknown phase ${unknown.join(", ")} (one of ${DROP_PHASES.join(", ")})`);
      const report = await runDropBench({ log: progress, phases: phases as DropPhase[] | undefined });
      console.log(dropBenchTable(report));
      if (opts.json) {
        writeDropReport(opts.json, report);
        progress(`report written to ${opts.json}`);
      }
      cli.exit(report.consistent ? 0 : 1);
    });
  bench
    .command("switch")
    .summary("blue/green releases and rollbacks on the rig under keep-alive load")
    .description(
      `N release + rollback cycles on prod (wepp1): each release a new digest, put by the host on
the colour not serving, gated and switched; each rollback a switch back to the warm colour;
then a release that passes its gate but answers 5xx (switched back by the analysis window)
and one that never becomes healthy (changes nothing). Clients go through Caddy on wepp1 over
an SSH tunnel and never retry; wrk, an independent load tool, runs beside them through the
cycles. Prints a table; --json FILE also writes the full report.`,
    )
    .option("--cycles <n>", "release + rollback cycles", "10")
    .option("--clients <n>", "keep-alive clients", "8")
    .option("--analysis-seconds <s>", "analysis window after each release's switch", "8")
    .option("--canary <p,p|none>", "canary steps each release walks first, e.g. 10,50, or none (default: the steps prod declares)")
    .option("--settle", "start the first release and each rollback on a quiet host: the other services run the live image, the run before has ended")
    .option("--tool-connections <n>", "connections of the independent load tool (wrk) beside the clients", "4")
    .option("--json <file>", "write the report as JSON")
    .action(async (opts: { cycles: string; clients: string; analysisSeconds: string; canary?: string; settle?: boolean; toolConnections: string; json?: string }) => {
      const report = await runSwitchBench({
        cycles: wholeNumber("--cycles", opts.cycles, 10, 1, 1000),
        clients: wholeNumber("--clients", opts.clients, 8, 1, 1000),
        analysisSeconds: wholeNumber("--analysis-seconds", opts.analysisSeconds, 8, 1, 3600),
        canary: canarySteps(opts.canary),
        settle: opts.settle === true,
        toolConnections: wholeNumber("--tool-connections", opts.toolConnections, 4, 1, 1000),
        log: progress,
      });
      console.log(switchBenchTable(report));
      if (opts.json) {
        writeReport(opts.json, report);
        progress(`report written to ${opts.json}`);
      }
      const ok = report.failed === 0 && report.independent.failed === 0 && report.badRelease.switchedBack && report.neverHealthy.failed === 0 && report.neverHealthy.liveUnchanged;
      cli.exit(ok ? 0 : 1);
    });
  bench
    .command("caddy-reload")
    .summary("what a changed Caddyfile costs the requests under way: Caddy's reload against a restart")
    .description(
      `prod's Caddy on wepp1 (blue/green, from bench switch or the rig tier) under wrk's keep-alive
load through an SSH tunnel gets a changed Caddyfile N times, renamed into place as the agent
does, loaded once by the agent's own reload and once by restarting Caddy's container (what a
recreate costs). The host ends on its own Caddyfile. Prints a table; --json FILE writes
{ways: [{way, changes, applied, requests, failed, failedPerChange, socketErrors}]}.`,
    )
    .option("--changes <n>", "Caddyfile changes per way", "8")
    .option("--connections <n>", "wrk's keep-alive connections", "8")
    .option("--ways <w,w>", "reload, restart, or both", "reload,restart")
    .option("--json <file>", "write the report as JSON")
    .action(async (opts: { changes: string; connections: string; ways: string; json?: string }) => {
      const ways = opts.ways.split(",");
      const unknown = ways.filter((w) => w !== "reload" && w !== "restart");
      if (unknown.length || ways.length === 0) throw new UsageError(`--ways: expected reload, restart or both (e.g. reload,restart), got "${opts.ways}"`);
      const report = await runCaddyReloadBench({
        changes: wholeNumber("--changes", opts.changes, 8, 1, 1000),
        connections: wholeNumber("--connections", opts.connections, 8, 1, 1000),
        ways: ways as CaddyChangeWay[],
        log: progress,
      });
      console.log(caddyReloadTable(report));
      if (opts.json) {
        writeCaddyReloadReport(opts.json, report);
        progress(`report written to ${opts.json}`);
      }
      cli.exit(report.ways.every((w) => w.applied === w.changes) ? 0 : 1);
    });
}
