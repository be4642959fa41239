import { readHostStatus } from "../ops/hostQueries";
import { StatusResult, status } from "../ops/status";
import { backend } from "./backend";
import { Subcommand, printJson, progress } from "./command";
import { parseOptions, requireStack } from "./release";

const usage = `usage: wepppy-cicd status --stack <env> [--rig] [--identity FILE] [--json]

What a stack declares (live colour, the image on each colour, the last release), what its
last update left (outputs, newest history entry), and what its host reports
(\`wepppy-deploy status\` over SSH: live image, traffic, colours, lock, last backup, last
deploy; passed through as the host prints it).

  --stack S       dev, testprod or prod
  --rig           read the rig's stand-in instead of the Pulumi stack
  --identity F    private key for the host (default ~/.ssh/id_ed25519; not with the rig)
  --json          print one JSON object: stack, ok, config, outputs, lastUpdate, host

Exit status is 1 when the config is not valid or the host cannot be asked.`;

function text(value: unknown): string {
  return value === undefined || value === null || value === "" ? "-" : typeof value === "string" ? value : JSON.stringify(value);
}

function format(s: StatusResult): string[] {
  const bg = s.config.bluegreen;
  const lines = [`${s.stack}: ${bg.enabled ? `blue/green, live ${bg.live} (idle ${bg.idle})` : "one colour"}`];
  if (bg.enabled) for (const c of ["blue", "green"]) lines.push(`  ${c.padEnd(6)} ${text(bg.images[c as "blue" | "green"])}${c === bg.live ? "  <- live" : ""}`);
  else lines.push(`  image  ${text(s.outputs.imageRef ?? s.config.image)}`);
  const r = s.config.release;
  if (r) lines.push(`  release ${text(r.id)}${r.tag ? `  tag ${r.tag}` : ""}${r.version ? `  version ${r.version}` : ""}${r.actor ? `  by ${r.actor}` : ""}`);
  if (s.lastUpdate) lines.push(`  last update ${s.lastUpdate.version}: ${s.lastUpdate.result} at ${text(s.lastUpdate.endTime)}${s.lastUpdate.message ? ` (${s.lastUpdate.message})` : ""}`);
  for (const p of s.config.problems ?? []) lines.push(`  config: ${p}`);
  if (s.host.error) lines.push(`  host: ${text(s.host.error)}`);
  else for (const [k, v] of Object.entries(s.host)) lines.push(`  host ${k}: ${text(v)}`);
  return lines;
}

export const statusCommand: Subcommand = {
  name: "status",
  summary: "a stack's live colour, images, last release and host status",
  usage,
  async run(argv) {
    const values = parseOptions(argv, { stack: { type: "string" }, rig: { type: "boolean" }, identity: { type: "string" }, json: { type: "boolean" } });
    const stack = requireStack(values.stack);
    const b = backend(Boolean(values.rig));
    progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
    const handle = await b.open(stack);
    const result = await status({
      stack: handle,
      sourceDir: b.sourceDir,
      hostStatus: () => {
        progress(`asking ${stack}'s host (wepppy-deploy status over SSH) ...`);
        return readHostStatus(b.host(stack, values.identity as string | undefined));
      },
    });
    if (values.json) printJson(result);
    else for (const line of format(result)) console.log(line);
    return result.ok ? 0 : 1;
  },
};
