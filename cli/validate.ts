import { Command } from "commander";
import { ValidateResult, validate } from "../ops/validate";
import { backend } from "./backend";
import { UsageError, printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

function format(r: ValidateResult): string[] {
  const lines = [`${r.ok ? "ok" : "FAILED"}: ${r.summary}`];
  for (const s of r.suites) {
    lines.push(`  ${s.suite.padEnd(17)} ${s.result}`);
    for (const f of s.failed) lines.push(`    ${f}`);
  }
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines;
}

export function registerValidate(program: Command, cli: Cli): void {
  program
    .command("validate")
    .summary("run a stack's validation suites on its host now, each kept there as evidence")
    .description(
      `Runs the suites the stack declares (promotion.suites: create-run through the test-support
API, routes: the pages and routed services' APIs through Caddy with the site's Host header,
profile-playback) against what its host has live, over SSH (wepppy-deploy validate --json).
Each suite is recorded in the host's audit log as evidence of the live digest, which is what
\`wepppy-cicd promote\` requires of testprod. Progress on stderr. Exit status 1 when a suite
failed or the host could not be asked; a suite the stack cannot run is reported unavailable.`,
    )
    .requiredOption("-s, --stack <env>", "testprod (the promotion source), or another stack")
    .option("--rig", "the rig's host for the stack")
    .option("--identity <file>", "private key for the host (default: ~/.ssh/id_ed25519, else the ssh-agent; not with --rig)")
    .option("--json", "print one JSON object: action, stack, ok, summary, image, digest, suites, evidence, error")
    .action(async (opts: { stack: string; rig?: boolean; identity?: string; json?: boolean }) => {
      const stack = stackName(opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      let result: ValidateResult;
      try {
        const host = await b.host(stack, opts.identity);
        progress(`validating what ${stack}'s host has live (wepppy-deploy validate over SSH, via ${host.via}) ...`);
        result = await validate({ stack, host, log: progress });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        const message = err instanceof Error ? err.message : String(err);
        result = { action: "validate", stack, ok: false, summary: `${stack}: validation did not run: ${message.split("\n")[0]}`, suites: [], evidence: [], error: message };
      }
      if (opts.json) printJson(result);
      else for (const line of format(result)) console.log(line);
      cli.exit(result.ok ? 0 : 1);
    });
}
