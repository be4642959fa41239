import * as path from "node:path/posix";

/*
 * Where wepppy-cicd keeps its things on a host: one function of the deploy root (the
 * stack's deploy.root) and the compose project directory (compose.projectDir). The
 * program, the operator CLI, the bootstrap's command builders and the agent all take
 * paths from here; nothing else joins them.
 */
export interface HostLayout {
  root: string;
  bin: string;
  /** The bootstrap every host command goes through (its path is what operators type). */
  script: string;
  /** The root-only helpers (write-secrets, install-file, install-timer, remove-timer), run with sudo. */
  rootHelper: string;
  /** The agent, one bundled JS file run by node inside the agent image. */
  agentBundle: string;
  /**
   * KEY=VALUE lines the bootstrap and the root helper read (no JSON in shell): the agent image,
   * the directories to mount, the project directory. In a root-owned directory, so that the
   * root helper can trust the project directory it names.
   */
  agentConf: string;
  /** The live settings (DeploySettings): the settings of the release that is current. */
  settings: string;
  lockDir: string;
  lockHolder: string;
  /** A rollback's request to a converging run to let go of the lock (PreemptRequest); it goes with the lock. */
  lockPreempt: string;
  auditLog: string;
  /** One directory per deploy run: request, progress events, checkpoint, verdict. */
  runsDir: string;
  /** One directory per staged release, named by the digest of its files. */
  releasesDir: string;
  /** Host-local state of the agent (current release, secret digests, colour history, retire tokens). */
  stateDir: string;
  currentRelease: string;
  secretDigests: string;
  /** Blue/green: which release each colour was last given (a by-hand rollback makes its files current again). */
  colourReleases: string;
  /** A soak that is running: its token, its samples so far (the detached soak run and status read it). */
  soakState: string;
  backups: string;
  /** The app's log lines a failed gate keeps, on the host only. */
  logsDir: string;
  /** Blue/green: the marker directory Caddy mounts read-only, and where it writes its access log. */
  markerDir: string;
  accessLogDir: string;
  projectDir: string;
  secretsDir: string;
  /** An older compose layout's secrets as KEY=value lines (root-owned, the deploy user's group), which the agent adds to `.env`. */
  envSecrets: string;
  /** What a plain `compose up` and the containers (env_file) read: the live release's env. */
  envFile: string;
  /** The release being deployed; it becomes `.env` once it passes its gates. */
  envNext: string;
}

export function hostLayout(root: string, projectDir: string): HostLayout {
  const bin = path.join(root, "bin");
  const stateDir = path.join(root, "state");
  const lockDir = path.join(root, "lock");
  return {
    root,
    bin,
    script: path.join(bin, "wepppy-deploy"),
    rootHelper: path.join(bin, "wepppy-root"),
    agentBundle: path.join(bin, "wepppy-agent.js"),
    agentConf: path.join(root, "etc", "agent.conf"),
    settings: path.join(root, "deploy.json"),
    lockDir,
    lockHolder: path.join(lockDir, "holder.json"),
    lockPreempt: path.join(lockDir, "preempt.json"),
    auditLog: path.join(root, "audit.log"),
    runsDir: path.join(root, "runs"),
    releasesDir: path.join(root, "releases"),
    stateDir,
    currentRelease: path.join(stateDir, "current.json"),
    secretDigests: path.join(stateDir, "secrets.json"),
    colourReleases: path.join(stateDir, "colours.json"),
    soakState: path.join(stateDir, "soak.json"),
    backups: path.join(root, "backups"),
    logsDir: path.join(root, "logs"),
    markerDir: path.join(root, "bluegreen"),
    accessLogDir: path.join(root, "caddy-log"),
    projectDir,
    secretsDir: path.join(projectDir, "secrets"),
    envSecrets: path.join(projectDir, "secrets", ".env-secrets"),
    envFile: path.join(projectDir, ".env"),
    envNext: path.join(projectDir, ".env.next"),
  };
}

export function releaseDir(layout: HostLayout, key: string): string {
  return path.join(layout.releasesDir, key);
}

/** Blue/green: the token of a pending retire of a colour (a newer release or a switch cancels it). */
export function retireToken(layout: HostLayout, colour: "blue" | "green"): string {
  return path.join(layout.stateDir, `retire-${colour}.json`);
}

export function runDir(layout: HostLayout, runId: string): string {
  return path.join(layout.runsDir, runId);
}

/** Files of one run, inside runDir. */
export const RUN_FILES = {
  request: "request.json",
  events: "events.jsonl",
  checkpoint: "checkpoint.json",
  verdict: "verdict.json",
  /** Blue/green: the verdict as soon as the release is judged good, while the other services still converge. */
  judged: "judged.json",
} as const;

/** Files of one staged release, beside the compose project's own files (see staging.ts). */
export const RELEASE_FILES = {
  manifest: "manifest.json",
  settings: "deploy.json",
  envTemplate: "env.template",
} as const;
