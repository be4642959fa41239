import { parseArgs } from "node:util";
import { runSwitchBench, switchBenchTable, writeReport } from "../bench/rigSwitch";
import { Subcommand, UsageError, progress } from "./command";

const usage = `usage: wepppy-cicd bench switch [--cycles N] [--clients N] [--analysis-seconds S] [--canary P,P] [--json FILE]

Blue/green on the rig under keep-alive load: N release + rollback cycles on prod (wepp1),
each release a new digest on the idle colour and each rollback a switch back to the warm
one; then a release that passes its gate but answers 5xx (must be switched back by the
analysis window) and one that never becomes healthy (must change nothing). Clients go
through Caddy on wepp1 over an SSH tunnel and never retry. Prints a table; --json FILE
also writes the full report. Brings the rig up if it is down; takes about 2 minutes a cycle.

  --cycles N            release + rollback cycles (default 10)
  --clients N           keep-alive clients (default 8)
  --analysis-seconds S  analysis window after each release's switch (default 8)
  --canary P,P          canary steps each release walks first, e.g. 10,50 (default none)
  --json FILE           write the report as JSON`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`${name} expects a whole number 1-1000, got "${text}"`);
  return n;
}

function canarySteps(text: string | undefined): number[] {
  if (text === undefined) return [];
  const steps = text.split(",").map(Number);
  if (steps.some((p, i) => !Number.isInteger(p) || p < 5 || p > 95 || p % 5 !== 0 || (i > 0 && p <= steps[i - 1]))) {
    throw new UsageError(`--canary expects rising percentages, multiples of 5 between 5 and 95 (e.g. 10,50), got "${text}"`);
  }
  return steps;
}

export const benchCommand: Subcommand = {
  name: "bench",
  summary: "benchmarks on the rig: `bench switch` (blue/green releases and rollbacks under load)",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        cycles: { type: "string" },
        clients: { type: "string" },
        "analysis-seconds": { type: "string" },
        canary: { type: "string" },
        json: { type: "string" },
      },
    });
    if (positionals.length !== 1 || positionals[0] !== "switch") throw new UsageError("expects the benchmark to run: switch");
    const report = await runSwitchBench({
      cycles: positive("--cycles", values.cycles, 10),
      clients: positive("--clients", values.clients, 8),
      analysisSeconds: positive("--analysis-seconds", values["analysis-seconds"], 8),
      canary: canarySteps(values.canary),
      log: progress,
    });
    console.log(switchBenchTable(report));
    if (values.json) {
      writeReport(values.json, report);
      progress(`report written to ${values.json}`);
    }
    const ok = report.failed === 0 && report.badRelease.switchedBack && report.neverHealthy.failed === 0 && report.neverHealthy.liveUnchanged;
    return ok ? 0 : 1;
  },
};
