import { ENVIRONMENTS, StackName } from "./environments";

/*
 * The names the GitHub side shares: which stack owns which GitHub object, workflow
 * files, job ids (which GitHub reports as check names, so branch protection requires
 * exactly these), secret names and where their values come from, SARIF categories,
 * and the runner labels. Each is written here once; workflows, the ruleset, the
 * environments and the tests derive from these.
 */

/** Stack that owns repository-wide plumbing: workflows, the master ruleset, repository secrets, the runner. */
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

/** wepppy's runner labels today (its CI workflows and its image publisher). */
export const DEFAULT_RUNNER_LABELS = {
  ci: ["self-hosted", "Linux", "X64", "homelab"],
  builder: ["self-hosted", "Linux", "X64", "ghcr-builder"],
} as const;

/** Labels GitHub gives every self-hosted runner itself; actionlint knows these without config. */
export const BUILTIN_RUNNER_LABELS = ["self-hosted", "linux", "x64", "arm", "arm64", "macos", "windows"];

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
  preview: "pulumi-preview",
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

/** Pinned actions; upload-sarif stays on v3 as the spec requires. */
export const ACTIONS = {
  checkout: "actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5", // v4.3.1
  setupNode: "actions/setup-node@v4",
  dockerLogin: "docker/login-action@5e57cd118135c172c3672efd75eb46360885c0ef", // v3.6.0
  setupBuildx: "docker/setup-buildx-action@8d2750c68a42422c14e847fe6c8ac0403b4cbd6f", // v3.12.0
  buildPush: "docker/build-push-action@10e90e3645eae34f1e60eeb005ba3a3d33f178e8", // v6.19.2
  uploadSarif: "github/codeql-action/upload-sarif@v3",
  pulumi: "pulumi/actions@v6",
} as const;

/** The image scanner, run as a pinned container rather than a third-party action. */
export const TRIVY_IMAGE = "aquasec/trivy:0.57.1";

/** GitHub Actions' app id: a required check must come from a workflow, not from a status anyone with a token can post. */
export const GITHUB_ACTIONS_APP_ID = 15368;

/** Base repository role ids a ruleset bypass names (GitHub's fixed numbering). */
export const REPOSITORY_ROLE_ID = { maintain: 2, write: 4, admin: 5 } as const;

/**
 * Where each GitHub secret's value comes from. The spec's names, with two changes:
 * GitHub refuses secret names starting with GITHUB_, so the spec's
 * GITHUB_RUNNER_DEPLOY_KEY is RUNNER_DEPLOY_KEY; and environment secrets carry the
 * environment's suffix (`_PROD` as in the spec, `_TESTPROD` for test production), so a
 * job can never read another environment's value under the same name.
 */
export const SECRET_TABLE = {
  /** Environment secrets: the value the stack's hosts receive, from WepppySecrets (keyed by wepppy's compose secret name). */
  environment: {
    POSTGRES_PASSWORD: "postgres_password",
    SECRET_KEY: "flask_secret_key",
    SECURITY_PASSWORD_SALT: "flask_security_password_salt",
  },
  /** Repository secrets: values from the owner stack's secret config (its `registry` and `deployKey` sections). */
  repository: {
    RUNNER_DEPLOY_KEY: {
      source: "deployKey",
      purpose: "SSH private key of the runner's deployments to forest1 and wepp1 (spec: GITHUB_RUNNER_DEPLOY_KEY)",
    },
    REGISTRY_USERNAME: { source: "registry.username", purpose: "registry user of REGISTRY_TOKEN" },
    REGISTRY_TOKEN: {
      source: "registry.password",
      purpose: "ghcr.io token (read:packages) deploy jobs log in with before `pulumi up` resolves image digests",
    },
    CICD_GITHUB_TOKEN: {
      source: "secrets.cicd_github_token",
      purpose:
        "fine-grained token (administration, environments, secrets: write on wepppy) the GitHub provider uses in deploy and drift jobs: GITHUB_TOKEN cannot manage environments or secrets",
    },
  },
} as const;

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

/** Config keys the workflows set on a stack for one run (never committed). */
export const CI_CONFIG_KEYS = {
  imageTag: "image.tag",
  skipSmoke: "health.skipSmoke",
  hotfixTag: "image.hotfix.tag",
  hotfixReason: "image.hotfix.reason",
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
