import { Command } from "commander";
import { readHostStatus } from "../ops/hostQueries";
import { StatusResult, status } from "../ops/status";
import { backend } from "./backend";
import { printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

function text(value: unknown): string {
  return value === undefined || value === null || value === "" ? "-" : typeof value === "string" ? value : JSON.stringify(value);
}

function format(s: StatusResult): string[] {
  const lines = [`${s.stack}: must run ${text(s.intent?.image)} (release ${text(s.intent?.release)}, update ${text(s.intent?.update)})`];
  if (!s.checkout.inSync) lines.push(`  this checkout says ${text(s.checkout.image)} (release ${text(s.checkout.release)}): run \`wepppy-cicd config sync -s ${s.stack}\` before a plain pulumi up`);
  lines.push(`  live   ${text(s.outputs.imageRef)}`);
  const bg = s.outputs.bluegreen as { live?: string; images?: Record<string, string> } | null | undefined;
  if (bg?.images) for (const c of ["blue", "green"]) lines.push(`  ${c.padEnd(6)} ${text(bg.images[c])}${c === bg.live ? "  <- live" : ""}`);
  if (s.lastUpdate) lines.push(`  last update: ${s.lastUpdate.result} at ${text(s.lastUpdate.endTime)}${s.lastUpdate.message ? ` (${s.lastUpdate.message})` : ""}`);
  for (const p of s.checkout.problems ?? []) lines.push(`  config: ${p}`);
  if (s.host.error) lines.push(`  host: ${text(s.host.error)}`);
  else for (const [k, v] of Object.entries(s.host)) if (k !== "evidence") lines.push(`  host ${k}: ${text(v)}`);
  const e = s.evidence;
  if (e) {
    lines.push(`  evidence of ${e.digest.slice(0, 19) || "(no digest)"}${e.rolledBack ? " (ROLLED BACK on this host)" : ""}:`);
    for (const x of e.suites) lines.push(`    suite ${x.suite.padEnd(17)} ${x.result} at ${x.finished}${x.failed.length ? `: ${x.failed.join(", ")}` : ""}`);
    if (e.suites.length === 0) lines.push("    no suite has run for it");
    if (e.soak) {
      const h = (sec: number) => `${Number((sec / 3600).toFixed(2))} h`;
      lines.push(`    soak  ${e.soak.verdict}: ${h(e.soak.observedSeconds)} of ${h(e.soak.plannedSeconds)}, ${text(e.soak.errors)} of ${text(e.soak.requests)} requests 5xx, ${text(e.soak.appErrorsAdded)} new error keys${e.soak.reasons.length ? ` (${e.soak.reasons.join("; ")})` : ""}`);
    } else lines.push("    soak  none");
    for (const d of e.drills) lines.push(`    drill ${d.result} at ${d.finished}: ${d.file}, ${d.bytes} bytes, ${d.seconds} s, ${d.rows.restored} of ${d.rows.live} rows${d.reason ? ` (${d.reason})` : ""}`);
  }
  return lines;
}

export function registerStatus(program: Command, cli: Cli): void {
  program
    .command("status")
    .summary("what a stack must run, what its host has live, its last update and host status")
    .description(
      `What the stack's newest succeeded update says must be live (and whether this checkout
agrees), what its last update left (outputs: the image and colours the host reported), its
newest update attempt, and what its host reports now (wepppy-deploy status over SSH: live
image and digest, the app's own health, traffic, colours, lock holder, last backup and its
verification, last deploy attempt with its verdict, and the live digest's evidence: suites,
soak, restore drills). Exit 1 when the config is not valid or the host cannot be asked.`,
    )
    .requiredOption("-s, --stack <env>", "dev, testprod or prod")
    .option("--rig", "read the rig's stand-in instead of the Pulumi stack")
    .option("--identity <file>", "private key for the host (default: ~/.ssh/id_ed25519, else the ssh-agent; not with --rig)")
    .option("--json", "print one JSON object: stack, ok, intent, checkout, outputs, lastUpdate, host, evidence")
    .action(async (opts: { stack: string; rig?: boolean; identity?: string; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
      const result = await status({
        stack: await b.open(stack),
        hostStatus: async () => {
          progress(`asking ${stack}'s host (wepppy-deploy status over SSH) ...`);
          return readHostStatus(await b.host(stack, opts.identity));
        },
      });
      if (opts.json) printJson(result);
      else for (const line of format(result)) console.log(line);
      cli.exit(result.ok ? 0 : 1);
    });
}
