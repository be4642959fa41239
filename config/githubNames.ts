import { ENVIRONMENTS, StackName } from "./environments";

/*
 * The names the GitHub side shares: which stack owns which GitHub object, workflow
 * files, job ids (which GitHub reports as check names, so branch protection requires
 * exactly these), secret names and where their values come from, SARIF categories,
 * and the runner labels. Each is written here once; workflows, the ruleset, the
 * environments and the tests derive from these. The runners' names and labels are in
 * runnerNames.ts.
 */

/** Stack that owns repository-wide plumbing: workflows, the master ruleset, the Actions policy, the drift environment, the runner host. */
export const REPOSITORY_OWNER_STACK: StackName = "dev";

/** Stacks that own a GitHub deployment environment (and its secrets): those with one in ENVIRONMENTS. */
export const ENVIRONMENT_STACKS = (Object.keys(ENVIRONMENTS) as StackName[]).filter(
  (s) => ENVIRONMENTS[s].githubEnvironment !== undefined,
);

export function githubEnvironmentOf(stack: StackName): string {
  const name = ENVIRONMENTS[stack].githubEnvironment;
  if (!name) throw new Error(`stack "${stack}" has no GitHub environment`);
  return name;
}

export const WORKFLOW_DIR = ".github/workflows";

/** Workflow files the repository owner stack commits, keyed by role. */
export const WORKFLOW_FILES = {
  pr: "pr.yml",
  main: "main.yml",
  deployProd: "deploy-prod.yml",
  nightly: "nightly.yml",
  rollbackProd: "rollback-prod.yml",
} as const;
export type WorkflowRole = keyof typeof WORKFLOW_FILES;

export const WORKFLOW_TITLES: Record<WorkflowRole, string> = {
  pr: "Pull Request Validation",
  main: "Main Branch CI/CD",
  deployProd: "Production Deployment",
  nightly: "Nightly",
  rollbackProd: "Production Rollback",
};

/**
 * Job ids of the PR workflow. None has a `name:` or a matrix, so GitHub reports each
 * check under its id, and the master ruleset requires exactly these.
 */
export const PR_JOBS = {
  trustedSource: "trusted-source",
  lint: "lint",
  testPython: "test-python",
  testGo: "test-go",
  testFrontend: "test-frontend",
  buildImage: "build-image",
  qualityGates: "quality-gates",
} as const;

export const MAIN_JOBS = {
  buildImage: "build-and-push",
  testStandard: "test-backend-standard",
  deploy: "deploy-testprod",
} as const;

export const DEPLOY_PROD_JOBS = { deploy: "deploy-production" } as const;

export const ROLLBACK_PROD_JOBS = { rollback: "rollback-production" } as const;

export const NIGHTLY_JOBS = {
  testComprehensive: "test-backend-comprehensive",
  drift: (stack: StackName) => `drift-${stack}`,
} as const;

/** One code-scanning category per SARIF upload: two uploads sharing one would replace each other's alerts. */
export const SARIF_UPLOADS = {
  docs: { category: "pr-documentation", file: "docs-lint.sarif", tool: "markdown-doc" },
  image: { category: "pr-container-security", file: "trivy-results.sarif", tool: "Trivy" },
} as const;

/**
 * Every action the generated workflows use, pinned to the full commit SHA of a release tag
 * (the tag is written beside each `uses:` as a comment). Each SHA was read from the action's
 * own repository: `git rev-parse <tag>^{commit}` in a clone of it. upload-sarif stays on v3
 * as the spec requires; pulumi/actions v7 runs on Node 24 (runners from 2.327.0).
 */
export const PINNED_ACTIONS = {
  checkout: { action: "actions/checkout", sha: "34e114876b0b11c390a56381ad16ebd13914f8d5", tag: "v4.3.1" },
  setupNode: { action: "actions/setup-node", sha: "49933ea5288caeca8642d1e84afbd3f7d6820020", tag: "v4.4.0" },
  dockerLogin: { action: "docker/login-action", sha: "5e57cd118135c172c3672efd75eb46360885c0ef", tag: "v3.6.0" },
  setupBuildx: { action: "docker/setup-buildx-action", sha: "8d2750c68a42422c14e847fe6c8ac0403b4cbd6f", tag: "v3.12.0" },
  buildPush: { action: "docker/build-push-action", sha: "10e90e3645eae34f1e60eeb005ba3a3d33f178e8", tag: "v6.19.2" },
  uploadSarif: { action: "github/codeql-action/upload-sarif", sha: "dd903d2e4f5405488e5ef1422510ee31c8b32357", tag: "v3.36.2" },
  pulumi: { action: "pulumi/actions", sha: "8e5e406f4007fca908480587cb9893c07090f58d", tag: "v7.0.0" },
} as const;
export type ActionRole = keyof typeof PINNED_ACTIONS;

/** `uses:` values by role: `owner/repo[/path]@<40 hex>`. */
export const ACTIONS = Object.fromEntries(
  Object.entries(PINNED_ACTIONS).map(([role, a]) => [role, `${a.action}@${a.sha}`]),
) as { readonly [K in ActionRole]: string };

/** The release tag of a pinned `uses:` value, for the comment beside it. */
export function actionTag(uses: string): string | undefined {
  return Object.values(PINNED_ACTIONS).find((a) => `${a.action}@${a.sha}` === uses)?.tag;
}

/**
 * The image scanner, run as a container pinned by digest rather than as a third-party
 * action. The digest is the one public pins of aquasec/trivy:0.57.1 agree on; no registry
 * can be reached from here to check it again.
 */
export const TRIVY_IMAGE = "aquasec/trivy:0.57.1@sha256:5c59e08f980b5d4d503329773480fcea2c9bdad7e381d846fbf9f2ecb8050f6b";

/** GitHub Actions' app id: a required check must come from a workflow, not from a status anyone with a token can post. */
export const GITHUB_ACTIONS_APP_ID = 15368;

/** Base repository role ids a ruleset bypass names (GitHub's fixed numbering). */
export const REPOSITORY_ROLE_ID = { maintain: 2, write: 4, admin: 5 } as const;

/** The environment nightly drift checks run in: the protected branch only, read-only credentials (repository owner stack). */
export const DRIFT_ENVIRONMENT = "drift";

/**
 * Where each GitHub secret's value comes from. No secret is a repository secret: a
 * repository secret reaches a workflow on any branch. Every one is an environment secret,
 * which GitHub hands only to a job of that environment, from the protected branch (each
 * environment's branch policy), so no pull request job can read one. Environment secrets
 * of the spec carry the environment's suffix (`_PROD` as in the spec, `_TESTPROD`).
 */
export const SECRET_TABLE = {
  /** The value the stack's hosts receive, from WepppySecrets (keyed by wepppy's compose secret name). */
  environment: {
    POSTGRES_PASSWORD: "postgres_password",
    SECRET_KEY: "flask_secret_key",
    SECURITY_PASSWORD_SALT: "flask_security_password_salt",
  },
  /** What a deploy job needs beyond the passphrase, in the stack's own environment, from that stack's secret config. */
  deploy: {
    REGISTRY_USERNAME: { source: "registry.username", purpose: "registry user of REGISTRY_TOKEN" },
    REGISTRY_TOKEN: {
      source: "registry.password",
      purpose: "ghcr.io token (read:packages) the deploy job logs in with before `pulumi up` resolves image digests",
    },
    CICD_ENVIRONMENTS_TOKEN: {
      source: "secrets.github_environments_token",
      purpose: "fine-grained token (environments, secrets: write on wepppy) the GitHub provider uses in this stack's `pulumi up`; it cannot change the ruleset or the Actions policy",
    },
  },
  /** The drift environment's secrets, from the repository owner stack's secret config: read-only. */
  drift: {
    CICD_READ_TOKEN: {
      source: "secrets.github_read_token",
      purpose: "fine-grained token (administration, environments, secrets, contents: read on wepppy) the nightly previews refresh GitHub objects with",
    },
  },
  /**
   * Set once by hand in every environment that runs Pulumi (`gh secret set --env <name>
   * PULUMI_CONFIG_PASSPHRASE`): no stack can hold the key to its own secrets. It reaches
   * a job's memory only, never the runner's disk.
   */
  operator: {
    PULUMI_CONFIG_PASSPHRASE: { purpose: "the stacks' secrets passphrase (PULUMI_CONFIG_PASSPHRASE)" },
  },
} as const;

/**
 * Secret config the repository owner stack's own program uses and never uploads: the
 * token of the Actions policy and runner registrations (administration: write).
 */
export const OWNER_ONLY_SECRETS = { adminToken: "secrets.github_admin_token" } as const;

export type DeploySecretName = keyof typeof SECRET_TABLE.deploy;
export type DriftSecretName = keyof typeof SECRET_TABLE.drift;
export type OperatorSecretName = keyof typeof SECRET_TABLE.operator;

export const ENVIRONMENT_SECRET_SUFFIX: Partial<Record<StackName, string>> = {
  testprod: "TESTPROD",
  prod: "PROD",
};

export type EnvironmentSecretBase = keyof typeof SECRET_TABLE.environment;

export function environmentSecretName(base: EnvironmentSecretBase, stack: StackName): string {
  const suffix = ENVIRONMENT_SECRET_SUFFIX[stack];
  if (!suffix) throw new Error(`stack "${stack}" has no environment secret suffix`);
  return `${base}_${suffix}`;
}

/** How each environment is protected (spec: test production has no hurdles, production is gated). */
export interface EnvironmentPolicy {
  reviewersRequired: boolean;
  preventSelfReview: boolean;
}
export const ENVIRONMENT_POLICY: Partial<Record<StackName, EnvironmentPolicy>> = {
  testprod: { reviewersRequired: false, preventSelfReview: false },
  prod: { reviewersRequired: true, preventSelfReview: true },
};
/** The drift environment runs every night unattended: no reviewers, the protected branch only. */
export const DRIFT_POLICY: EnvironmentPolicy = { reviewersRequired: false, preventSelfReview: false };

/** Config keys the workflows set on a stack for one run (never committed). */
export const CI_CONFIG_KEYS = {
  imageTag: "image.tag",
  skipSmoke: "health.skipSmoke",
} as const;

/** Inputs of the deploy-prod workflow_dispatch. */
export const DEPLOY_PROD_INPUTS = {
  imageTag: "image_tag",
  skipSmoke: "skip_smoke_tests",
  hotfixReason: "hotfix_reason",
} as const;

/** Inputs of the rollback-prod workflow_dispatch. */
export const ROLLBACK_PROD_INPUTS = {
  to: "to_update",
} as const;
