import { z } from "zod";
import * as f from "../fields";

/*
 * The `wepppy-cicd:runner` section: the self-hosted runners on the runner host (forest),
 * in two trust zones, and the repository's Actions policy. The repository owner stack
 * (dev) reads everything but `access`; an environment stack reads only `access`, the
 * addresses its host accepts the deploy key from. Names and labels are derived from this
 * section once (config/runnerNames.ts) and every workflow and host command reads them there.
 */

function text(expected: string, pattern: RegExp, description: string) {
  const error = `expected ${expected}`;
  return z.string({ error }).regex(pattern, { error }).meta({ expected, description });
}

/** pulumi/actions v7 runs on Node 24, which self-hosted runners support from v2.327.0 on. */
export const MIN_RUNNER_VERSION = "2.327.0";

const VERSION = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const SHA256 = /^[0-9a-f]{64}$/;
// Where the release tarballs are: scheme, host, path; the file name is derived from the version.
const DOWNLOAD_BASE = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~-]+)*$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// A runner name prefix; "-<n>" is appended. Kept short: the systemd unit and the account derive from it.
const NAME_PREFIX = /^[a-z][a-z0-9-]{0,40}[a-z0-9]$/;
// A Unix account prefix; "-<n>" is appended, so the result stays within 32 characters.
const USER_PREFIX = /^[a-z_][a-z0-9_-]{0,24}$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\/(?:3[0-2]|[12]?\d))?$/;
// `owner/repo@ref` or `owner/repo/path@ref`, with `*` wildcards as GitHub's allow-list takes them.
const ACTION_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9._*-]*\/[A-Za-z0-9._*\/-]+(?:@[A-Za-z0-9._*-]+)?$/;

function compareVersions(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

const version = text("a runner version x.y.z", VERSION, `actions/runner release to install; at least ${MIN_RUNNER_VERSION} (Node 24 actions such as pulumi/actions v7).`).refine(
  (v) => compareVersions(v, MIN_RUNNER_VERSION) >= 0,
  { error: `expected a runner version ${MIN_RUNNER_VERSION} or later (pulumi/actions v7 needs Node 24 support)` },
);

const ci = z
  .strictObject({
    count: f.count(1, 16, "How many CI runners (PR, lint, tests, image builds): forest-runner-1 ... forest-runner-<count>.").default(2),
    namePrefix: text("a runner name prefix ([a-z0-9-])", NAME_PREFIX, "Runner names are <namePrefix>-<n>.").default("forest-runner"),
    userPrefix: text("a Unix account prefix", USER_PREFIX, "Each CI runner has its own account <userPrefix>-<n>: no two runners share a workspace.").default("ghr-ci"),
    label: text("a runner label ([A-Za-z0-9._-])", LABEL, "The label CI jobs ask for (with self-hosted, Linux, X64).").default("homelab"),
    builderLabel: text("a runner label ([A-Za-z0-9._-])", LABEL, "The label image builds ask for; the CI runners carry it too (wepppy's ghcr-builder).").default("ghcr-builder"),
    docker: f
      .flag("CI accounts join the docker group. wepppy's tests need Docker; a job that can reach it is root on the host (see README).")
      .default(true),
    noNewPrivileges: f.flag("NoNewPrivileges= in the CI units: no job can gain privileges through setuid programs such as sudo.").default(true),
  })
  .meta({ description: "The CI runners: they run pull request code and hold no credential." });

const deploy = z
  .strictObject({
    name: f.serviceName("Name the deploy runner registers under.").default("forest-deploy-1"),
    user: f.unixUser("The deploy runner's own account; it never runs a pull request.").default("ghr-deploy"),
    label: text("a runner label ([A-Za-z0-9._-])", LABEL, "The label deploy and drift jobs ask for; no CI runner carries it.").default("homelab-deploy"),
    docker: f
      .flag("The deploy account joins the docker group: the deploy jobs' registry login (docker login) and the docker provider's daemon check need it. It runs only the protected branch's jobs.")
      .default(true),
    noNewPrivileges: f.flag("NoNewPrivileges= in the deploy unit.").default(true),
  })
  .meta({ description: "The deploy runner: only jobs of the protected environments, from the protected branch." });

const deployTarget = z.strictObject({
  host: f.hostname("Host name deploy jobs use for the target."),
  address: f.address("Its address, when deploy jobs use that too.").optional(),
  port: f.port("Its SSH port.").default(22),
  hostKey: f.hostKey("Its pinned SSH host key."),
});

const access = z
  .strictObject({
    from: f
      .list(text("an IPv4 address or CIDR", IPV4, "An address."), "IPv4 addresses or CIDRs", "Addresses the deploy key is accepted from on this stack's host (the runner host's LAN address): from= of its authorized_keys line. Unset: the line is not managed.")
      .optional(),
  })
  .meta({ description: "Environment stacks: how this stack's host admits the deploy runner." });

const policy = z
  .strictObject({
    approval: f
      .oneOf(
        ["all_external_contributors", "first_time_contributors", "first_time_contributors_new_to_github"],
        "Which fork pull requests wait for a maintainer before their workflows run (GitHub's fork PR contributor approval policy).",
      )
      .default("all_external_contributors"),
    shaPinningRequired: f.flag("Refuse workflows whose actions are not pinned to a full commit SHA.").default(true),
    extraAllowedActions: z
      .array(text("an action pattern owner/repo[/path][@ref]", ACTION_PATTERN, "An allowed action."), { error: "expected a list of action patterns" })
      .meta({ expected: "a list of action patterns", description: "Actions wepppy's other workflows use, allowed beside the pinned ones the generated workflows use." })
      .default([]),
  })
  .meta({ description: "The repository's Actions policy, set by the repository owner stack through GitHub's REST API." });

export const runner = z
  .strictObject({
    version: version.default("2.336.0"),
    sha256: text(
      "a sha256 of 64 hex digits",
      SHA256,
      "sha256 of actions-runner-linux-x64-<version>.tar.gz, from the release notes; checked before anything is unpacked.",
    ).default("04cf0be1aff4c3ec3554466c39124ca250e3effd8873bb7e8d68535aa9505d5d"),
    downloadBase: text(
      "an http(s) URL without query",
      DOWNLOAD_BASE,
      "Where release tarballs are fetched from: <downloadBase>/v<version>/actions-runner-linux-x64-<version>.tar.gz.",
    ).default("https://github.com/actions/runner/releases/download"),
    root: f.absolutePath("Directory on the runner host for the runners, their versions and the host script.").default("/opt/wepppy-runner"),
    registrationGeneration: f
      .count(1, 1000000, "Raise it to register the runners with a fresh token (a host that lost its registration, or a new runner host): each runner's kept token is replaced; registered runners are left alone.")
      .default(1),
    drainMinutes: f.count(0, 720, "How long an upgrade or removal waits for a running job to finish before it gives up.").default(60),
    logDays: f.count(1, 365, "Runner logs (_diag) older than this many days are removed by the cleanup timer.").default(7),
    deployTargets: z
      .array(deployTarget, { error: "expected a list of deploy targets" })
      .meta({
        expected: "a list of {host, address, port, hostKey}",
        description: "Hosts pinned in the deploy account's known_hosts. Unset: every environment stack's deploy.host, address, sshPort and hostKey, read from its stack file.",
      })
      .optional(),
    ci: ci.prefault({}),
    deploy: deploy.prefault({}),
    access: access.prefault({}),
    policy: policy.prefault({}),
  })
  .meta({ description: "Self-hosted runners on the runner host, in trust zones (issue 11), and the repository's Actions policy." });

export type RunnerConfig = z.output<typeof runner>;
