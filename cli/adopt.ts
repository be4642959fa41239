import { Command } from "commander";
import { AdoptResult, HostRunner, adopt } from "../ops/adopt";
import { runRemote } from "../ops/ssh";
import { backend } from "./backend";
import { UsageError, printJson, progress, stackName } from "./io";
import type { Cli } from "./main";

export function formatAdopt(r: AdoptResult): string[] {
  const lines = [`${r.ok ? (r.changed ? "ok" : "ok (nothing stored)") : "REFUSED"}: ${r.summary}`];
  if (r.project) lines.push(`  host ${r.host}: compose project ${r.project.name} in ${r.project.workingDir} (-f ${r.project.configFiles.join(" -f ")})`);
  const verb = r.ok && !r.dryRun ? "stored" : "to store";
  for (const c of r.stored.config) lines.push(`  ${verb}: ${c.key} = ${JSON.stringify(c.value)}  (${c.why})`);
  for (const s of r.stored.secrets) lines.push(`  ${verb} (secret): ${s.key}  from ${s.from}`);
  if (r.plan.length > 0) {
    lines.push(`  the first \`pulumi up\` after adoption:`);
    for (const p of r.plan) lines.push(`    - ${p}`);
  }
  for (const b of r.blocking) lines.push(`  refused: ${b}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.hint) lines.push(`  hint: ${r.hint}`);
  return lines;
}

export function registerAdopt(program: Command, cli: Cli): void {
  program
    .command("adopt")
    .summary("take a stack's host over as it runs today: its secrets, compose project and .env into the stack's config")
    .argument("[stack]", "dev, testprod or prod (or -s)")
    .description(
      `Reads over SSH (the stack's pinned host key) what its host runs today: the compose project
running the app (name, working directory, -f files, as compose labelled its containers), its
volumes, the project's .env and every file in its secrets/ (their bytes through stdout, never a
command line). Plans the adoption against the stack as its first \`pulumi up\` would deploy it,
and stores the secrets as secret stack config and the rest as plain config, leaf by leaf
(\`pulumi config set --path [--secret]\`, secrets on stdin). Prints what the first up will then
keep and change. Changes nothing on the host. Refuses, storing nothing, when the first up would
lose or break something (a password with data and none to adopt, volumes under another project,
other compose files ...) or the adopted config would not be valid. Adopting twice stores the
same. Exit status 1 when refused or when the host cannot be read.`,
    )
    .option("-s, --stack <env>", "the stack")
    .option("--rig", "the rig: its stand-in engine's stack and the rig's host for the stack (a rig job's checkout keeps what is stored)")
    .option("--identity <file>", "private key for the host (default: ~/.ssh/id_ed25519, else the ssh-agent; not with --rig)")
    .option("--sudo", "read the project's files with sudo -n (secret files only root or the services' user can read)")
    .option("--dry-run", "plan and check only: store nothing")
    .option("--json", "print one JSON object: action, stack, ok, changed, dryRun, summary, host, project, stored {config, secrets (keys, never values)}, plan, warnings, blocking, error, hint")
    .action(async (positional: string | undefined, opts: { stack?: string; rig?: boolean; identity?: string; sudo?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (positional && opts.stack && positional !== opts.stack) throw new UsageError(`two stacks given: ${positional} and ${opts.stack}`);
      if (opts.rig && opts.identity) throw new UsageError("--identity is for real hosts; the rig has its own key");
      const stack = stackName(positional ?? opts.stack);
      const b = backend(Boolean(opts.rig), progress);
      let result: AdoptResult;
      try {
        progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
        const handle = await b.open(stack);
        const access = await b.host(stack, opts.identity);
        const where = `${access.connection.user ?? "root"}@${access.connection.host}`;
        const host: HostRunner = { name: `${where} (via ${access.via})`, run: (command) => runRemote(access.connection, command) };
        result = await adopt({ stack: handle, host, sudo: opts.sudo, dryRun: opts.dryRun, resolveDigest: b.resolveDigest, log: progress });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        const error = err instanceof Error ? err.message : String(err);
        const hint = "adopt changes nothing on the host; fix the cause and run it again (it stores the same); do not run `pulumi up` on the host before adopt succeeds";
        if (opts.json) printJson({ ok: false, error, hint });
        else process.stderr.write(`wepppy-cicd adopt: ${error}\n  ${hint}\n`);
        cli.exit(1);
        return;
      }
      if (b.rig && result.changed && process.env.WEPPPY_RIG_JOB !== "1") {
        result.warnings.push("the rig keeps this checkout's stack file in memory (as a CI job's checkout, gone when the command ends): what was stored is gone; run adopt in a rig job's checkout (WEPPPY_RIG_JOB=1) to keep it for rehearse");
      }
      if (opts.json) printJson(result);
      else for (const line of formatAdopt(result)) console.log(line);
      cli.exit(result.ok ? 0 : 1);
    });
}
