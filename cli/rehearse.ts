import { parseArgs } from "node:util";
import { rehearse } from "../harness/rehearsal/rehearse";
import { parseSets } from "./args";
import { Subcommand, UsageError, printJson, progress } from "./command";

const usage = `usage: wepppy-cicd rehearse <stack> [--set section.key=value]... [--publish BUILD] [--json]

Evaluates the stack (dev, testprod or prod) from its own stack file under the mock engine and
runs what it declares on the rig, in dependency order, over SSH with the declared connection:
what \`pulumi up -s <stack>\` would run. Only what changed since the last rehearsal runs.
Brings the rig up if it is down.

  --set k=v       override a config value, like pulumi config set --path (repeatable)
  --publish B     first publish stand-in build B (rig-a, rig-b, rig-never-healthy, ...) under the
                  stack's image tag, as CI's main workflow publishes a commit's image
  --json          print one JSON object: stack, ok, url, image, digest, steps, hostCommandsRun

Exit status is 1 when the rehearsal fails.`;

export const rehearseCommand: Subcommand = {
  name: "rehearse",
  summary: "run a stack's `pulumi up` against the rig (mock engine, real hosts)",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { set: { type: "string", multiple: true }, publish: { type: "string" }, json: { type: "boolean" } },
    });
    if (positionals.length !== 1) throw new UsageError("expects exactly one stack name");
    const result = await rehearse({ stack: positionals[0], set: parseSets(values.set), publish: values.publish, log: progress });
    if (values.json) {
      printJson(result);
    } else {
      for (const s of result.steps) {
        const mark = s.skipped ? "-" : s.ok ? "ok" : "FAILED";
        console.log(`${mark.padEnd(6)} ${s.host.padEnd(10)} ${s.name.padEnd(40)} ${String(s.seconds).padStart(6)} s${s.detail ? `  ${s.detail}` : ""}`);
      }
      console.log(`${result.ok ? "ok" : "FAILED"}: ${result.stack} serves ${result.image || "nothing"} at ${result.url}; ${result.hostCommandsRun} host command(s) run`);
      if (result.error) console.log(result.error);
    }
    return result.ok ? 0 : 1;
  },
};
