import { isDigestPinned } from "../contract/records";
import { renderEnvFile } from "../contract/envFile";
import { backup } from "./backups";
import { tail } from "./exec";
import { writeFileAtomic } from "./files";
import { installWithDisplacement } from "./projectFiles";
import { ENV_FILE_MODE, envSecretValues } from "./secrets";
import { RunContext, RunFailure, runPaths } from "./run";

/*
 * The steps both deploy pipelines share (one-colour and blue/green differ only in which
 * service they are applied to), each ending the run with a RunFailure that names its phase.
 */

export async function backupStep(ctx: RunContext): Promise<{ file: string; bytes: number } | undefined> {
  if (!ctx.settings.backup.preDeploy) return undefined;
  await ctx.enter("backup", "pre-deploy backup");
  const r = await backup(ctx.agent, ctx.settings, "pre-deploy", (m) => ctx.say(m));
  if (!r.ok) throw new RunFailure("backup", `pre-deploy backup failed, nothing deployed: ${r.reason}`, "backup");
  if (r.note) await ctx.say(r.note);
  return r.backup ? { file: r.backup.file, bytes: r.backup.bytes } : undefined;
}

/** A digest-pinned image the engine has already needs no registry round trip; a tag is left to compose. */
export async function pullStep(ctx: RunContext, image: string | null): Promise<void> {
  if (!image || !isDigestPinned(image)) return;
  await ctx.enter("pull", `pulling ${image}`);
  if (await ctx.agent.docker.hasImage(image)) {
    await ctx.say("the engine has this digest already");
    return;
  }
  const r = await ctx.agent.docker.pull(image);
  if (r.code !== 0) throw new RunFailure("pull", `cannot pull ${image}: ${tail(r.stderr, 3)}`);
}

export async function migrateStep(ctx: RunContext, service: string): Promise<void> {
  const argv = ctx.settings.migrate;
  if (argv.length === 0) return;
  await ctx.enter("migrate", `migration: ${argv.join(" ")}`);
  if (ctx.settings.dbService) await ctx.compose.up([ctx.settings.dbService]);
  const r = await ctx.compose.run(service, argv, { rm: true, noDeps: true, noTty: true });
  if (r.code !== 0) throw new RunFailure("migrate", `migration '${argv.join(" ")}' failed: ${tail(r.stderr || r.stdout, 6)}`, "migration");
}

/** The release's files into the project directory (the previous ones kept in the run's directory). */
export async function installStep(ctx: RunContext): Promise<void> {
  ctx.save({ filesInstalled: true });
  const changed = installWithDisplacement(ctx.release, ctx.settings.projectDir, runPaths(ctx.layout, ctx.runId).displaced);
  if (changed.length > 0) await ctx.say(`release files in place: ${changed.join(", ")}`);
}

/** .env.next: the release's env template plus an older layout's secrets and the image variables the host decided. */
export function writeEnvNext(ctx: RunContext, values: Record<string, string>): string {
  const text = renderEnvFile(ctx.release.envTemplate, { ...envSecretValues(ctx.layout), ...values });
  writeFileAtomic(ctx.layout.envNext, text, ENV_FILE_MODE);
  return text;
}

export function failIf(phase: RunFailure["phase"], failure: { gate: string; reason: string; logFile?: string } | null, prefix = ""): void {
  if (failure) throw new RunFailure(phase, `${prefix}${failure.reason}`, failure.gate, failure.logFile);
}
