import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { ENVIRONMENTS, NAMESPACE, PROMOTION_SOURCE, STACKS, StackName, stackFileName } from "../../config/environments";
import {
  ENVIRONMENT_POLICY,
  ENVIRONMENT_STACKS,
  PR_JOBS,
  REPOSITORY_OWNER_STACK,
  SECRET_TABLE,
  EnvironmentSecretBase,
  environmentSecretName,
  githubEnvironmentOf,
} from "../../config/githubNames";
import { stackConfigShape } from "../../config/schema";
import { GithubConfig } from "../../config/sections/github";
import { RawConfig, readStackFile } from "../../config/stackFile";
import { DeployTarget, WorkflowContext, renderWorkflows } from "../../render/workflows";
import { GithubEnvironment } from "./githubEnvironment";
import { GithubRepository } from "./githubRepository";
import { GithubRunner } from "./githubRunner";

/*
 * The GitHub side of one stack. Each GitHub object is declared by exactly one stack:
 * the repository owner stack (dev, on forest with the runner) declares the workflows,
 * the protected branch's ruleset and the repository secrets; each environment stack
 * declares its own deployment environment and that environment's secrets.
 */

export interface GithubSideArgs {
  stack: StackName;
  github: GithubConfig;
  /** WepppySecrets.values: the values this stack's hosts receive, by compose secret name. */
  hostSecrets: pulumi.Output<Record<string, string>>;
  /** The stack's secret config the repository secrets come from (see SECRET_TABLE.repository). */
  secretConfig: RepositorySecretSources;
  /** How another stack's settings are read; default: its stack file. */
  readStack?: (stack: StackName) => RawConfig;
}

/** The owner stack's config sections that repository secret values are read from. */
export interface RepositorySecretSources {
  deployKey?: string;
  registry?: { username: string; password: string };
  secrets: Record<string, string>;
}

/** A value named by a SECRET_TABLE source ("deployKey", "registry.password", "secrets.<key>"), or undefined. */
export function secretSource(sources: RepositorySecretSources, source: string): string | undefined {
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
  runnerLabels?: string[];
  builderLabels?: string[];
  environment?: string;
  secretNames: string[];
}

function section<T extends keyof typeof stackConfigShape>(raw: RawConfig, stack: StackName, key: T) {
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
  const site = section(raw, stack, "site");
  const health = section(raw, stack, "health");
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
export function workflowContext(cfg: GithubConfig, read: (stack: StackName) => RawConfig = readStackFile): WorkflowContext {
  const promotedTo = ENVIRONMENT_STACKS.find((s) => s !== PROMOTION_SOURCE);
  if (!promotedTo || !ENVIRONMENTS[PROMOTION_SOURCE].githubEnvironment) {
    throw new Error("the workflows need a promotion source and a production stack, each with a GitHub environment");
  }
  const image = section(read(PROMOTION_SOURCE), PROMOTION_SOURCE, "image");
  if (image.source !== "registry") {
    throw new Error(`${stackFileName(PROMOTION_SOURCE)}: image.source must be "registry": master's workflow pushes the image it runs`);
  }
  return {
    owner: cfg.owner,
    repository: cfg.repository,
    branch: cfg.branch,
    cicdRepository: cfg.cicdRepository,
    cicdRef: cfg.cicdRef,
    runnerLabels: cfg.runner.labels,
    builderLabels: cfg.runner.builderLabels,
    pulumi: cfg.pulumi,
    imageRepository: image.repository,
    nightlyCron: cfg.nightlyCron,
    stacks: STACKS,
    testprod: deployTarget(PROMOTION_SOURCE, read),
    prod: deployTarget(promotedTo, read),
  };
}

/** Declares this stack's GitHub objects and returns what the stack exports about them. */
export function githubSide(args: GithubSideArgs): GithubStackOutput {
  const cfg = args.github;
  const repository = `${cfg.owner}/${cfg.repository}`;

  if (args.stack === REPOSITORY_OWNER_STACK) {
    const secrets: Record<string, pulumi.Input<string>> = {};
    const missing: string[] = [];
    for (const [name, { source }] of Object.entries(SECRET_TABLE.repository)) {
      const value = secretSource(args.secretConfig, source);
      if (value === undefined) missing.push(`${name} (${NAMESPACE}:${source})`);
      else secrets[name] = value;
    }
    if (missing.length > 0) {
      pulumi.log.warn(
        `repository secrets not set, not declared (the deploy workflows need them): ${missing.join(", ")}; set each with pulumi config set --secret --path`,
      );
    }
    const repo = new GithubRepository("github-repository", {
      owner: cfg.owner,
      repository: cfg.repository,
      branch: cfg.branch,
      workflows: renderWorkflows(workflowContext(cfg, args.readStack)),
      requiredChecks: Object.values(PR_JOBS),
      rulesetBypass: cfg.rulesetBypass,
      secrets,
    });
    const runner = new GithubRunner("github-runner", {
      owner: cfg.owner,
      repository: cfg.repository,
      name: cfg.runner.name,
      labels: cfg.runner.labels,
      builderLabels: cfg.runner.builderLabels,
    });
    return {
      repository,
      owns: [
        ...repo.workflowFiles.map((f) => `file:${f}`),
        `ruleset:${cfg.branch}`,
        ...repo.secretNames.map((s) => `repository-secret:${s}`),
      ],
      workflowFiles: repo.workflowFiles,
      requiredChecks: repo.requiredChecks,
      runnerLabels: runner.labels,
      builderLabels: runner.builderLabels,
      secretNames: repo.secretNames,
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
