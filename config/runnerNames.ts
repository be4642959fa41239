import * as path from "node:path/posix";
import { RunnerConfig } from "./sections/runner";

/*
 * Every name the runners go by, derived from the `runner` section once: what each runner
 * registers as, the labels it carries and the labels each kind of job asks for, its Unix
 * account, directory and systemd unit. The workflows, the RunnerHost and the rig read them
 * here, so a job can only ask for a label some runner of the right zone carries.
 */

/** Labels GitHub gives every self-hosted Linux x64 runner itself; config.sh adds them, --labels does not list them. */
export const RUNNER_OS_LABELS = ["self-hosted", "Linux", "X64"] as const;

/** Labels GitHub gives every self-hosted runner itself; actionlint knows these without config. */
export const BUILTIN_RUNNER_LABELS = ["self-hosted", "linux", "x64", "arm", "arm64", "macos", "windows"];

/**
 * ci: runs pull request code (PR checks, the test tiers, image builds) and holds no credential.
 * deploy: runs only jobs of the protected environments, from the protected branch.
 */
export type RunnerZone = "ci" | "deploy";

export interface RunnerIdentity {
  zone: RunnerZone;
  /** What the runner registers under, e.g. forest-runner-1. */
  name: string;
  /** Its own Unix account: no two runners share a home, a workspace or a credential. */
  user: string;
  /** The labels passed to config.sh --labels. */
  customLabels: string[];
  /** Everything the runner carries as GitHub reports it. */
  labels: string[];
  /** The runner's directory (the unpacked release, its .runner, _work and _diag). */
  dir: string;
  /** Its systemd unit. */
  unit: string;
}

/** The label sets jobs ask for: `runs-on` of every generated job is one of these. */
export interface JobLabels {
  ci: string[];
  builder: string[];
  deploy: string[];
}

export function jobLabels(cfg: RunnerConfig): JobLabels {
  return {
    ci: [...RUNNER_OS_LABELS, cfg.ci.label],
    builder: [...RUNNER_OS_LABELS, cfg.ci.builderLabel],
    deploy: [...RUNNER_OS_LABELS, cfg.deploy.label],
  };
}

export interface RunnerLayout {
  root: string;
  /** The host script, root-owned: every runner command and hook runs it. */
  script: string;
  /** Verified release tarballs. */
  cache: string;
  /** Unpacked, verified releases, one directory per version. */
  versions: string;
  runners: string;
}

export function runnerLayout(cfg: Pick<RunnerConfig, "root">): RunnerLayout {
  return {
    root: cfg.root,
    script: path.join(cfg.root, "bin", "wepppy-runner"),
    cache: path.join(cfg.root, "cache"),
    versions: path.join(cfg.root, "versions"),
    runners: path.join(cfg.root, "runners"),
  };
}

/** The CI runners 1..count and the deploy runner, in that order. */
export function runnerIdentities(cfg: RunnerConfig): RunnerIdentity[] {
  const layout = runnerLayout(cfg);
  const one = (zone: RunnerZone, name: string, user: string, customLabels: string[]): RunnerIdentity => ({
    zone,
    name,
    user,
    customLabels,
    labels: [...RUNNER_OS_LABELS, ...customLabels],
    dir: path.join(layout.runners, name),
    unit: `wepppy-runner-${name}.service`,
  });
  const out: RunnerIdentity[] = [];
  for (let i = 1; i <= cfg.ci.count; i++) {
    out.push(one("ci", `${cfg.ci.namePrefix}-${i}`, `${cfg.ci.userPrefix}-${i}`, [cfg.ci.label, cfg.ci.builderLabel]));
  }
  out.push(one("deploy", cfg.deploy.name, cfg.deploy.user, [cfg.deploy.label]));
  const names = new Set(out.map((r) => r.name));
  const users = new Set(out.map((r) => r.user));
  if (names.size !== out.length || users.size !== out.length) {
    throw new Error("wepppy-cicd:runner: the deploy runner's name or account collides with a CI runner's; change runner.deploy.name or runner.deploy.user");
  }
  if (cfg.deploy.label === cfg.ci.label || cfg.deploy.label === cfg.ci.builderLabel) {
    throw new Error("wepppy-cicd:runner.deploy.label: must differ from the CI labels, or pull request jobs could land on the deploy runner");
  }
  return out;
}

/** The systemd unit and timer of the cleanup (old runner logs, empty _work directories). */
export const CLEANUP_UNIT = "wepppy-runner-cleanup";

/** The release tarball a version is fetched as. */
export function runnerTarball(cfg: Pick<RunnerConfig, "version" | "downloadBase">): { file: string; url: string } {
  const file = `actions-runner-linux-x64-${cfg.version}.tar.gz`;
  return { file, url: `${cfg.downloadBase}/v${cfg.version}/${file}` };
}
