import * as path from "node:path";
import type { DeploySettings } from "../contract/settings";
import { CmdResult, Runner, runCommand } from "./exec";

/*
 * Compose, through its CLI (v2 `docker compose` on wepppy's hosts, v1 `docker-compose` on
 * the rig: the command is a setting). Every call names the project directory explicitly,
 * so relative paths in wepppy's files (../wepppy/..., ./caddy/Caddyfile, ./secrets/*)
 * resolve against it whatever the working directory, and the env file it is given.
 */

export interface UpOptions {
  noDeps?: boolean;
  forceRecreate?: boolean;
  removeOrphans?: boolean;
}

export interface RunServiceOptions {
  detach?: boolean;
  name?: string;
  rm?: boolean;
  noDeps?: boolean;
  noTty?: boolean;
}

export interface Compose {
  /** The env file (absolute) every call reads; the containers' env_file follows it (WEPPPY_ENV_FILE). */
  readonly envFile: string;
  up(services: string[], options?: UpOptions): Promise<CmdResult>;
  run(service: string, argv: string[], options?: RunServiceOptions): Promise<CmdResult>;
  stop(services: string[], timeoutSeconds: number): Promise<CmdResult>;
  start(services: string[]): Promise<CmdResult>;
}

/** `signal`: aborting it stops the compose call under way (a rollback preempting a converge). */
export type ComposeFactory = (settings: DeploySettings, envFile: string, signal?: AbortSignal) => Compose;

/** The argv of one compose call (pure: tested without compose). */
export function composeArgv(settings: DeploySettings, envFile: string, args: string[]): string[] {
  const files = settings.compose.files.flatMap((f) => ["-f", path.join(settings.projectDir, f)]);
  return [
    ...settings.compose.command.split(" "),
    "--project-directory", settings.projectDir,
    "--env-file", envFile,
    "-p", settings.compose.project,
    ...files,
    ...args,
  ];
}

export function upArgs(services: string[], o: UpOptions = {}): string[] {
  return ["up", "-d", ...(o.noDeps ? ["--no-deps"] : []), ...(o.forceRecreate ? ["--force-recreate"] : []), ...(o.removeOrphans ? ["--remove-orphans"] : []), ...services];
}

export function runArgs(service: string, argv: string[], o: RunServiceOptions = {}): string[] {
  return [
    "run",
    ...(o.detach ? ["-d"] : []),
    ...(o.rm ? ["--rm"] : []),
    ...(o.noDeps ? ["--no-deps"] : []),
    ...(o.noTty ? ["-T"] : []),
    ...(o.name ? ["--name", o.name] : []),
    service,
    ...argv,
  ];
}

export function cliCompose(run: Runner = runCommand, env: NodeJS.ProcessEnv = process.env): ComposeFactory {
  return (settings, envFile, signal) => {
    // wepppy's compose files read their containers' env_file from ${WEPPPY_ENV_FILE}: during a
    // deploy it must be the release being deployed, not the one still live.
    const callEnv = { ...env, WEPPPY_ENV_FILE: path.relative(settings.projectDir, envFile) || envFile };
    const call = (args: string[]) => run(composeArgv(settings, envFile, args), { cwd: settings.projectDir, env: callEnv, signal });
    return {
      envFile,
      up: (services, options) => call(upArgs(services, options)),
      run: (service, argv, options) => call(runArgs(service, argv, options)),
      stop: (services, timeoutSeconds) => call(["stop", "-t", String(timeoutSeconds), ...services]),
      start: (services) => call(["start", ...services]),
    };
  };
}
