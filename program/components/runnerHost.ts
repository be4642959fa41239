import * as github from "@pulumi/github";
import { remote, types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ENVIRONMENT_STACKS, OWNER_ONLY_SECRETS, REPOSITORY_OWNER_STACK } from "../../config/githubNames";
import { NAMESPACE, StackName, stackFileName } from "../../config/environments";
import { CLEANUP_UNIT, JobLabels, jobLabels, runnerIdentities, runnerLayout, runnerTarball } from "../../config/runnerNames";
import { StackConfig } from "../../config/schema";
import { RunnerConfig } from "../../config/sections/runner";
import { RawConfig, readStackFile } from "../../config/stackFile";
import * as rc from "../../render/runnerCommands";
import { GITHUB_API, RegistrationTokenLatch, RunnerRegistration } from "./githubRest";
import { githubProvider } from "./githubProvider";
import { secretSource, stackSection } from "./githubSide";

/*
 * The runner host (forest) as the repository owner stack declares it, over SSH with a
 * pinned host key: the host script, one systemd unit and one `ensure` command per runner
 * (CI runners forest-runner-1..N and the deploy runner, each in its own account), their
 * registrations on GitHub, the cleanup timer, and the deploy account's pinned known_hosts.
 * On the deploy targets, each environment stack declares DeployAccess: the deploy key's
 * authorized_keys line, from= the runner host only.
 */

export interface SshConnectionConfig {
  host: string;
  address?: string;
  port: number;
  user: string;
  hostKey: string;
  privateKey: string;
}

export function sshConnection(c: SshConnectionConfig): types.input.remote.ConnectionArgs {
  return {
    host: c.address ?? c.host,
    port: c.port,
    user: c.user,
    hostKey: c.hostKey,
    privateKey: pulumi.secret(c.privateKey),
    // The provider's own default: an sshd under load sheds connections past MaxStartups (10 unauthenticated), and the engine runs up to 4 per core at once.
    dialErrorLimit: 10,
    perDialTimeout: 15,
  };
}

export interface RunnerHostArgs {
  runner: RunnerConfig;
  owner: string;
  repository: string;
  branch: string;
  connection: SshConnectionConfig;
  /** Administration token of the runner registrations (secret config); unset in a preview leaves them out. */
  adminToken?: string;
  /** The GitHub API; a test server in tests. */
  apiUrl?: string;
  /** The hosts deploy jobs connect to, with their pinned keys. */
  targets: rc.DeployTargetHost[];
}

export interface RunnerHostOutput {
  host: string;
  runners: { name: string; zone: string; user: string; labels: string[] }[];
  jobLabels: JobLabels;
  version: string;
  /** Run it on the host for each runner's service state, version, busy flag and the free disk. */
  healthCommand: string;
  knownHosts: string[];
}

export class RunnerHost extends pulumi.ComponentResource {
  readonly output: RunnerHostOutput;

  constructor(name: string, args: RunnerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:runner:RunnerHost", name, {}, opts);
    const cfg = args.runner;
    const layout = runnerLayout(cfg);
    const runners = runnerIdentities(cfg);
    const connection = sshConnection(args.connection);
    const child = { parent: this };
    const provider = githubProvider(`${name}-github`, args.owner, this);
    const scriptText = rc.runnerScript();
    const scriptSha = rc.sha256(scriptText);
    const tarball = runnerTarball(cfg);
    const repository = `${args.owner}/${args.repository}`;
    // Which host a runner's command runs on: a new host replaces the command (its delete
    // runs first on the old host: the same paths are made again on the new one).
    const where = [args.connection.address ?? args.connection.host, String(args.connection.port)];

    const script = new remote.Command(
      `${name}-script`,
      { connection, create: rc.installScriptCommand(layout), stdin: scriptText, addPreviousOutputInEnv: false },
      child,
    );

    // A fresh registration token every run, from @pulumi/github; not asked for in a preview.
    const freshToken = pulumi.runtime.isDryRun()
      ? pulumi.secret("")
      : pulumi.secret(github.getActionsRegistrationTokenOutput({ repository: args.repository }, { parent: this, provider }).token);

    const ensured = new Map<string, remote.Command>();
    for (const r of runners) {
      const unitText = rc.renderRunnerUnit(r, { layout, repository, branch: args.branch, noNewPrivileges: r.zone === "ci" ? cfg.ci.noNewPrivileges : cfg.deploy.noNewPrivileges });
      const unit = new remote.Command(
        `${name}-${r.name}-unit`,
        { connection, create: rc.installUnitCommand(layout, r.unit), stdin: unitText, addPreviousOutputInEnv: false },
        { ...child, dependsOn: [script] },
      );
      const latch = new RegistrationTokenLatch(`${name}-${r.name}-token`, { token: freshToken, generation: cfg.registrationGeneration }, child);
      const registration = args.adminToken
        ? new RunnerRegistration(
            `${name}-${r.name}-registration`,
            { apiUrl: args.apiUrl ?? GITHUB_API, owner: args.owner, repository: args.repository, token: args.adminToken, name: r.name, labels: r.customLabels },
            child,
          )
        : undefined;
      const ensure = new remote.Command(
        `${name}-${r.name}`,
        {
          connection,
          create: rc.ensureRunnerCommand(layout, {
            runner: r,
            repoUrl: `https://github.com/${repository}`,
            repository,
            branch: args.branch,
            version: cfg.version,
            sha256: cfg.sha256,
            tarballUrl: tarball.url,
            docker: r.zone === "ci" ? cfg.ci.docker : cfg.deploy.docker,
            drainMinutes: cfg.drainMinutes,
            unitSha: rc.sha256(unitText),
            scriptSha,
          }),
          delete: rc.removeRunnerCommand(layout, r, cfg.drainMinutes),
          // The kept token: the same on every run until registrationGeneration changes.
          stdin: pulumi.secret(latch.token),
          triggers: where,
          addPreviousOutputInEnv: false,
          // The registration token is on stdin: an error or an echo must not print it (the policy pack's secret-commands-silent).
          logging: "none",
        },
        {
          ...child,
          // Registered (and so removed) after its GitHub record exists; removed from the host first.
          dependsOn: [script, unit, ...(registration ? [registration] : [])],
          // Its delete undoes on the same paths what its create makes: never after a replacement's create.
          deleteBeforeReplace: true,
          additionalSecretOutputs: ["stdin", "stdout", "stderr"],
        },
      );
      ensured.set(r.name, ensure);
    }

    const cleanup = rc.cleanupUnits(layout, cfg.logDays);
    const cleanupService = new remote.Command(
      `${name}-cleanup-service`,
      { connection, create: rc.installUnitCommand(layout, `${CLEANUP_UNIT}.service`), stdin: cleanup.service, delete: rc.removeUnitCommand(layout, `${CLEANUP_UNIT}.service`), addPreviousOutputInEnv: false },
      { ...child, dependsOn: [script], deleteBeforeReplace: true },
    );
    new remote.Command(
      `${name}-cleanup-timer`,
      { connection, create: rc.installUnitCommand(layout, `${CLEANUP_UNIT}.timer`, true), stdin: cleanup.timer, delete: rc.removeUnitCommand(layout, `${CLEANUP_UNIT}.timer`), addPreviousOutputInEnv: false },
      { ...child, dependsOn: [cleanupService], deleteBeforeReplace: true },
    );

    const deployRunner = runners.find((r) => r.zone === "deploy")!;
    const knownHosts = rc.renderKnownHosts(args.targets);
    new remote.Command(
      `${name}-deploy-known-hosts`,
      { connection, create: rc.deploySshCommand(layout, deployRunner.user), stdin: knownHosts, addPreviousOutputInEnv: false },
      // The deploy account exists once its runner is ensured.
      { ...child, dependsOn: [ensured.get(deployRunner.name)!] },
    );

    this.output = {
      host: args.connection.host,
      runners: runners.map((r) => ({ name: r.name, zone: r.zone, user: r.user, labels: r.labels })),
      jobLabels: jobLabels(cfg),
      version: cfg.version,
      healthCommand: rc.runnerHealthCommand(layout),
      knownHosts: args.targets.map((t) => t.host),
    };
    this.registerOutputs({ runners: this.output.runners, version: this.output.version });
  }
}

export interface DeployAccessArgs {
  connection: SshConnectionConfig;
  /** The deploy key (secret): only its public half is used here. */
  deployKey: string;
  from: string[];
}

/** The deploy key's line in the deploy account's authorized_keys on an environment's host. */
export class DeployAccess extends pulumi.ComponentResource {
  readonly publicKey: string;

  constructor(name: string, args: DeployAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:runner:DeployAccess", name, {}, opts);
    this.publicKey = rc.publicKeyOf(args.deployKey);
    new remote.Command(
      `${name}-authorized-keys`,
      {
        connection: sshConnection(args.connection),
        create: rc.installAuthorizedKeysCommand(),
        stdin: rc.renderAuthorizedKeysBlock(this.publicKey, args.from),
        delete: rc.removeAuthorizedKeysCommand(),
        addPreviousOutputInEnv: false,
      },
      { parent: this, deleteBeforeReplace: true },
    );
    this.registerOutputs({ publicKey: this.publicKey });
  }
}

/** The deploy targets: every environment stack's host, from that stack's own settings. */
export function deployTargets(read: (stack: StackName) => RawConfig = readStackFile): { targets: rc.DeployTargetHost[]; unpinned: string[] } {
  const targets: rc.DeployTargetHost[] = [];
  const unpinned: string[] = [];
  for (const stack of ENVIRONMENT_STACKS) {
    const deploy = stackSection(read(stack), stack, "deploy");
    if (!deploy.hostKey) unpinned.push(`${deploy.host} (${stackFileName(stack)}: ${NAMESPACE}:deploy.hostKey)`);
    else targets.push({ stack, host: deploy.host, address: deploy.address, port: deploy.sshPort, hostKey: deploy.hostKey });
  }
  return { targets, unpinned };
}

export interface RunnerSideOutput {
  runnerHost?: RunnerHostOutput;
  deployAccess?: { publicKey: string; from: string[] };
}

/**
 * What a stack declares of the runner side: the repository owner stack the RunnerHost on its
 * own host, an environment stack the deploy key's access to its host.
 */
export function runnerSide(stack: StackName, config: StackConfig, read: (stack: StackName) => RawConfig = readStackFile): RunnerSideOutput {
  const deploy = config.deploy;
  const ready = deploy.hostKey !== undefined && config.deployKey !== undefined;
  const connection = (): SshConnectionConfig => ({
    host: deploy.host,
    address: deploy.address,
    port: deploy.sshPort,
    user: deploy.sshUser,
    hostKey: deploy.hostKey!,
    privateKey: config.deployKey!,
  });

  if (stack === REPOSITORY_OWNER_STACK) {
    if (!ready) {
      if (pulumi.runtime.isDryRun()) {
        pulumi.log.warn(`runner host ${deploy.host}: not declared until ${NAMESPACE}:deploy.hostKey and ${NAMESPACE}:deployKey are set`);
        return {};
      }
      throw new Error(`${stack}: cannot install the runners on ${deploy.host}: set ${NAMESPACE}:deploy.hostKey and ${NAMESPACE}:deployKey (secret) first`);
    }
    const adminToken = secretSource({ secrets: config.secrets }, OWNER_ONLY_SECRETS.adminToken);
    if (!adminToken) {
      if (!pulumi.runtime.isDryRun()) {
        throw new Error(`${stack}: the runner registrations need ${NAMESPACE}:${OWNER_ONLY_SECRETS.adminToken} (administration: write on the repository): set it with pulumi config set --secret --path`);
      }
      pulumi.log.warn(`runner registrations not declared: set ${NAMESPACE}:${OWNER_ONLY_SECRETS.adminToken} (secret)`);
    }
    const derived = config.runner.deployTargets ? { targets: config.runner.deployTargets.map((t) => ({ stack: "config", ...t })), unpinned: [] } : deployTargets(read);
    if (derived.unpinned.length > 0) {
      pulumi.log.warn(`deploy targets left out of the deploy runner's known_hosts until their host key is pinned: ${derived.unpinned.join(", ")}`);
    }
    const host = new RunnerHost(`${stack}-runner-host`, {
      runner: config.runner,
      owner: config.github.owner,
      repository: config.github.repository,
      branch: config.github.branch,
      connection: connection(),
      adminToken,
      targets: derived.targets,
    });
    return { runnerHost: host.output };
  }

  const from = config.runner.access.from;
  if (!from) {
    pulumi.log.warn(`${deploy.host}: the deploy key's authorized_keys line is not managed until ${NAMESPACE}:runner.access.from is set (the runner host's address)`);
    return {};
  }
  if (!ready) {
    if (pulumi.runtime.isDryRun()) return {};
    throw new Error(`${stack}: set ${NAMESPACE}:deploy.hostKey and ${NAMESPACE}:deployKey before ${NAMESPACE}:runner.access.from can be applied`);
  }
  const access = new DeployAccess(`${stack}-deploy-access`, { connection: connection(), deployKey: config.deployKey!, from });
  return { deployAccess: { publicKey: access.publicKey, from } };
}
