import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { ENVIRONMENTS, NAMESPACE, PROMOTION_SOURCE, STACKS, StackName, stackFileName } from "../../config/environments";
import {
  DRIFT_ENVIRONMENT,
  DRIFT_POLICY,
  ENVIRONMENT_POLICY,
  ENVIRONMENT_STACKS,
  OWNER_ONLY_SECRETS,
  PINNED_ACTIONS,
  PR_JOBS,
  REPOSITORY_OWNER_STACK,
  SECRET_TABLE,
  EnvironmentSecretBase,
  environmentSecretName,
  githubEnvironmentOf,
} from "../../config/githubNames";
import { JobLabels, jobLabels } from "../../config/runnerNames";
import { stackConfigShape } from "../../config/schema";
import { GithubConfig } from "../../config/sections/github";
import { RunnerConfig } from "../../config/sections/runner";
import { RawConfig, readStackFile } from "../../config/stackFile";
import { DeployTarget, WorkflowContext, renderWorkflows } from "../../render/workflows";
import { GithubEnvironment } from "./githubEnvironment";
import { GithubRepository } from "./githubRepository";

/*
 * The GitHub side of one stack. Each GitHub object is declared by exactly one stack:
 * the repository owner stack (dev, on forest with the runners) declares the workflows,
 * the protected branch's ruleset, the repository's Actions policy and the drift
 * environment; each environment stack declares its own deployment environment and that
 * environment's secrets. No secret is a repository secret (see SECRET_TABLE).
 */

export interface GithubSideArgs {
  stack: StackName;
  github: GithubConfig;
  runner: RunnerConfig;
  /** WepppySecrets.values: the values this stack's hosts receive, by compose secret name. */
  hostSecrets: pulumi.Output<Record<string, string>>;
  /** The stack's secret config environment secrets come from (see SECRET_TABLE). */
  secretConfig: SecretSources;
  /** How another stack's settings are read; default: its stack file. */
  readStack?: (stack: StackName) => RawConfig;
  /** The GitHub API the Actions policy is set through; a test server in tests. */
  apiUrl?: string;
}

/** The stack's config sections secret values are read from. */
export interface SecretSources {
  deployKey?: string;
  registry?: { username: string; password: string };
  secrets: Record<string, string>;
}

/** A value named by a SECRET_TABLE source ("deployKey", "registry.password", "secrets.<key>"), or undefined. */
export function secretSource(sources: SecretSources, source: string): string | undefined {
  let node: unknown = sources;
  for (const part of source.split(".")) node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[part] : undefined;
  return typeof node === "string" && node !== "" ? node : undefined;
}

/** The `github` stack output: names only, never a value. */
export interface GithubStackOutput {
  repository: string;
  /** What this stack declares on GitHub, as "kind:name". */
  owns: string[];
  workflowFiles?: string[];
  requiredChecks?: string[];
  /** What each kind of job asks for (ci, builder, deploy). */
  jobLabels?: JobLabels;
  /** The Actions policy the repository owner stack sets: who needs approval, which actions run. */
  actionsPolicy?: { approval: string; shaPinningRequired: boolean; allowedActions: string[] };
  environment?: string;
  secretNames: string[];
}

/** One section of another stack's settings, checked against the schema. */
export function stackSection<T extends keyof typeof stackConfigShape>(raw: RawConfig, stack: StackName, key: T) {
  const text = raw.values[`${NAMESPACE}:${key}`];
  const schema = stackConfigShape[key];
  const result = schema.safeParse(text === undefined ? undefined : JSON.parse(text));
  if (!result.success) {
    throw new Error(`${stackFileName(stack)}: ${NAMESPACE}:${key}: ${result.error.issues.map((i) => i.message).join("; ")}`);
  }
  return result.data as z.output<(typeof stackConfigShape)[T]>;
}

/** An environment's URL and health settings, read from that stack's own settings. */
export function deployTarget(stack: StackName, read: (stack: StackName) => RawConfig = readStackFile): DeployTarget {
  const raw = read(stack);
  const site = stackSection(raw, stack, "site");
  const health = stackSection(raw, stack, "health");
  return {
    stack,
    githubEnvironment: githubEnvironmentOf(stack),
    url: `https://${site.domain}`,
    smokePages: health.smokePages,
    tries: health.tries,
    intervalSeconds: health.intervalSeconds,
  };
}

/** The stack that prod promotes from gets master's images; the other environment stack is promoted to. */
export function workflowContext(cfg: GithubConfig, runner: RunnerConfig, read: (stack: StackName) => RawConfig = readStackFile): WorkflowContext {
  const promotedTo = ENVIRONMENT_STACKS.find((s) => s !== PROMOTION_SOURCE);
  if (!promotedTo || !ENVIRONMENTS[PROMOTION_SOURCE].githubEnvironment) {
    throw new Error("the workflows need a promotion source and a production stack, each with a GitHub environment");
  }
  const image = stackSection(read(PROMOTION_SOURCE), PROMOTION_SOURCE, "image");
  if (image.source !== "registry") {
    throw new Error(`${stackFileName(PROMOTION_SOURCE)}: image.source must be "registry": master's workflow pushes the image it runs`);
  }
  return {
    owner: cfg.owner,
    repository: cfg.repository,
    branch: cfg.branch,
    cicdRepository: cfg.cicdRepository,
    cicdRef: cfg.cicdRef,
    labels: jobLabels(runner),
    pulumi: cfg.pulumi,
    driftEnvironment: DRIFT_ENVIRONMENT,
    imageRepository: image.repository,
    nightlyCron: cfg.nightlyCron,
    stacks: STACKS,
    testprod: deployTarget(PROMOTION_SOURCE, read),
    prod: deployTarget(promotedTo, read),
  };
}

/** The actions the Actions policy allows: exactly the pinned ones the workflows use, and what config adds. */
export function allowedActions(runner: RunnerConfig): string[] {
  return [...new Set([...Object.values(PINNED_ACTIONS).map((a) => `${a.action}@${a.sha}`), ...runner.policy.extraAllowedActions])].sort();
}

/** Environment secrets from a table, by name; the missing ones are named for a warning. */
function secretsFrom(
  table: Record<string, { source: string }>,
  sources: SecretSources,
): { secrets: Record<string, pulumi.Input<string>>; missing: string[] } {
  const secrets: Record<string, pulumi.Input<string>> = {};
  const missing: string[] = [];
  for (const [name, { source }] of Object.entries(table)) {
    const value = secretSource(sources, source);
    if (value === undefined) missing.push(`${name} (${NAMESPACE}:${source})`);
    else secrets[name] = value;
  }
  return { secrets, missing };
}

/** Declares this stack's GitHub objects and returns what the stack exports about them. */
export function githubSide(args: GithubSideArgs): GithubStackOutput {
  const cfg = args.github;
  const repository = `${cfg.owner}/${cfg.repository}`;

  if (args.stack === REPOSITORY_OWNER_STACK) {
    const adminToken = secretSource(args.secretConfig, OWNER_ONLY_SECRETS.adminToken);
    if (!adminToken) {
      const why = `the repository's Actions policy (approval of every outside contributor's run, only the pinned actions) needs ${NAMESPACE}:${OWNER_ONLY_SECRETS.adminToken} (administration: write): set it with pulumi config set --secret --path`;
      if (!pulumi.runtime.isDryRun()) throw new Error(`${args.stack}: ${why}`);
      pulumi.log.warn(`not declared: ${why}`);
    }
    const policy = {
      approval: args.runner.policy.approval,
      shaPinningRequired: args.runner.policy.shaPinningRequired,
      allowedActions: allowedActions(args.runner),
    };
    const repo = new GithubRepository("github-repository", {
      owner: cfg.owner,
      repository: cfg.repository,
      branch: cfg.branch,
      workflows: renderWorkflows(workflowContext(cfg, args.runner, args.readStack)),
      requiredChecks: Object.values(PR_JOBS),
      rulesetBypass: cfg.rulesetBypass,
      actionsPolicy: adminToken ? { ...policy, token: adminToken, apiUrl: args.apiUrl } : undefined,
    });
    const drift = secretsFrom(SECRET_TABLE.drift, args.secretConfig);
    if (drift.missing.length > 0) {
      pulumi.log.warn(`${DRIFT_ENVIRONMENT} environment secrets not set, not declared (the nightly drift checks need them): ${drift.missing.join(", ")}`);
    }
    const env = new GithubEnvironment(`github-environment-${DRIFT_ENVIRONMENT}`, {
      owner: cfg.owner,
      repository: cfg.repository,
      environment: DRIFT_ENVIRONMENT,
      branch: cfg.branch,
      policy: DRIFT_POLICY,
      waitMinutes: 0,
      canAdminsBypass: false,
      secrets: drift.secrets,
    });
    return {
      repository,
      owns: [
        ...repo.workflowFiles.map((f) => `file:${f}`),
        `ruleset:${cfg.branch}`,
        ...(repo.actionsPolicy ? ["actions-policy"] : []),
        `environment:${env.environment}`,
        ...env.secretNames.map((s) => `environment-secret:${env.environment}/${s}`),
      ],
      workflowFiles: repo.workflowFiles,
      requiredChecks: repo.requiredChecks,
      jobLabels: jobLabels(args.runner),
      actionsPolicy: repo.actionsPolicy ? policy : undefined,
      environment: env.environment,
      secretNames: env.secretNames,
    };
  }

  const policy = ENVIRONMENT_POLICY[args.stack];
  if (!policy) return { repository, owns: [], secretNames: [] };

  const secrets: Record<string, pulumi.Input<string>> = {};
  for (const [base, composeName] of Object.entries(SECRET_TABLE.environment)) {
    secrets[environmentSecretName(base as EnvironmentSecretBase, args.stack)] = args.hostSecrets.apply((values) => {
      const value = values[composeName];
      if (value === undefined) throw new Error(`${args.stack}: wepppy's compose files define no secret "${composeName}"`);
      return value;
    });
  }
  const deploy = secretsFrom(SECRET_TABLE.deploy, args.secretConfig);
  if (deploy.missing.length > 0) {
    pulumi.log.warn(
      `${githubEnvironmentOf(args.stack)} environment secrets not set, not declared (its deploy job needs them): ${deploy.missing.join(", ")}; set each with pulumi config set --secret --path`,
    );
  }
  Object.assign(secrets, deploy.secrets);
  const env = new GithubEnvironment(`github-environment-${args.stack}`, {
    owner: cfg.owner,
    repository: cfg.repository,
    environment: githubEnvironmentOf(args.stack),
    branch: cfg.branch,
    policy,
    reviewers: cfg.environment.reviewers,
    waitMinutes: cfg.environment.waitMinutes,
    canAdminsBypass: cfg.environment.canAdminsBypass,
    secrets,
  });
  return {
    repository,
    owns: [`environment:${env.environment}`, ...env.secretNames.map((s) => `environment-secret:${env.environment}/${s}`)],
    environment: env.environment,
    secretNames: env.secretNames,
  };
}
