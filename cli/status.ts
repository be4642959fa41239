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
  else for (const [k, v] of Object.entries(s.host)) lines.push(`  host ${k}: ${text(v)}`);
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
image, traffic, colours, lock, last backup, last deploy). Exit 1 when the config is not valid
or the host cannot be asked.`,
    )
    .requiredOption("-s, --stack <env>", "dev, testprod or prod")
    .option("--rig", "read the rig's stand-in instead of the Pulumi stack")
    .option("--identity <file>", "private key for the host (default: ~/.ssh/id_ed25519, else the ssh-agent; not with --rig)")
    .option("--json", "print one JSON object: stack, ok, intent, checkout, outputs, lastUpdate, host")
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
