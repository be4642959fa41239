import { NAMESPACE, StackName } from "../../config/environments";
import { ACTIONS, DeploySecretName, DriftSecretName, OperatorSecretName, SARIF_UPLOADS } from "../../config/githubNames";
import { DeployTarget, WorkflowContext } from "./context";
import { Job, Step } from "./types";

/** A GitHub expression. Allowed in `with:`, `env:`, `if:` and the like, never inside a `run:` script. */
export const expr = (inner: string) => "${{ " + inner + " }}";

/** Directories the pulumi jobs check out side by side, so the program's default `../wepppy/docker` finds wepppy. */
export const WEPPPY_DIR = "wepppy";
export const CICD_DIR = "wepppy-cicd";

const script = (...lines: string[]) => ["set -euo pipefail", ...lines].join("\n") + "\n";
export { script };

/**
 * wepppy checked out at the workspace root, as its wctl-based jobs expect. These jobs run
 * pull request code on a CI runner: no credential is in reach (the checkout keeps no token,
 * and docker/.env holds test values made here, never a copy of a host's file).
 */
export function wctlSetup(): Step[] {
  return [
    // Not cleaned: containers leave root-owned data under .docker-data on the runner.
    { name: "Check out wepppy", uses: ACTIONS.checkout, with: { clean: false, "persist-credentials": false } },
    {
      name: "Provide docker/.env (test values)",
      shell: "bash",
      run: script(
        'docker_gid="$(getent group docker | cut -d: -f3)"',
        '[ -n "${docker_gid}" ] || { echo "::error::no docker group on the runner host"; exit 1; }',
        "{",
        '  echo "UID=$(id -u)"',
        '  echo "GID=${docker_gid}"',
        '  echo "POSTGRES_PASSWORD=localdev"',
        '  echo "SECRET_KEY=localdev"',
        '  echo "SECURITY_PASSWORD_SALT=localdev"',
        "} > docker/.env",
      ),
    },
    {
      name: "Install the wctl shim",
      shell: "bash",
      run: script(
        'mkdir -p "${GITHUB_WORKSPACE}/.wctl/bin"',
        "chmod +x wctl/install.sh",
        "WCTL_SYMLINK_PATH=\"${GITHUB_WORKSPACE}/.wctl/bin/wctl\" ./wctl/install.sh dev",
        'echo "${GITHUB_WORKSPACE}/.wctl/bin" >> "${GITHUB_PATH}"',
      ),
    },
  ];
}

/** Environment every job that runs Pulumi has: the deploy runner's state backend. No secret: see pulumiSecrets. */
export function pulumiEnv(ctx: WorkflowContext): Record<string, string> {
  return {
    PULUMI_BACKEND_URL: ctx.pulumi.backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
}

/** The environment's token the GitHub provider uses: environments write for a deploy, read-only for drift. */
export type GithubTokenSecret = Extract<DeploySecretName | DriftSecretName, `CICD_${string}_TOKEN`>;

/**
 * What a step that runs Pulumi gets, and only such a step: the passphrase (an environment
 * secret, into the step's memory) and the environment's GitHub token. Never job-wide, so
 * neither `npm ci`'s install scripts nor the setup actions see them.
 */
export function pulumiSecrets(token: GithubTokenSecret): Record<string, string> {
  return { PULUMI_CONFIG_PASSPHRASE: secretRef("PULUMI_CONFIG_PASSPHRASE"), GITHUB_TOKEN: secretRef(token) };
}

/** wepppy and this program side by side, dependencies installed, the Pulumi CLI on PATH. */
export function pulumiSetup(ctx: WorkflowContext): Step[] {
  return [
    {
      // Registry logins of this job stay in this job's temporary directory, which the runner empties.
      name: "Keep docker credentials in the job",
      shell: "bash",
      run: script('echo "DOCKER_CONFIG=${RUNNER_TEMP}/docker-config" >> "${GITHUB_ENV}"'),
    },
    {
      name: "Check out wepppy",
      uses: ACTIONS.checkout,
      // The whole history: a release deploys the compose files of its image's commit (compose.sourceAt: commit), a rollback an older one's.
      with: { path: WEPPPY_DIR, "persist-credentials": false, "fetch-depth": 0 },
    },
    {
      name: "Check out the pipeline program",
      uses: ACTIONS.checkout,
      with: { repository: ctx.cicdRepository, ref: ctx.cicdRef, path: CICD_DIR, "persist-credentials": false },
    },
    { name: "Set up Node.js", uses: ACTIONS.setupNode, with: { "node-version": "20" } },
    { name: "Install the program's dependencies", "working-directory": CICD_DIR, run: "npm ci --no-audit --no-fund\n" },
    { name: "Install the Pulumi CLI", uses: ACTIONS.pulumi, with: { "pulumi-version": ctx.pulumi.version } },
  ];
}

/** The quality gates (this program's policy/ pack), at the levels its committed policy-config.json sets. */
export function policyPackInputs(): Record<string, string> {
  const dir = `${expr("github.workspace")}/${CICD_DIR}/policy`;
  return { policyPacks: dir, policyPackConfigs: `${dir}/policy-config.json` };
}

/** Every preview and up runs the policy pack: a gate's violation stops the update before a step runs. */
export function pulumiCommand(
  ctx: WorkflowContext,
  command: "preview" | "up",
  stack: StackName,
  extra: Record<string, string | boolean> = {},
  step: Partial<Step> = {},
): Step {
  return {
    name: `pulumi ${command} -s ${stack}`,
    uses: ACTIONS.pulumi,
    ...step,
    with: {
      command,
      "stack-name": stack,
      "work-dir": CICD_DIR,
      "cloud-url": ctx.pulumi.backendUrl,
      "pulumi-version": ctx.pulumi.version,
      "suppress-outputs": true,
      ...policyPackInputs(),
      ...extra,
    },
  };
}

/**
 * A job's checkout holds the committed stack file, not what the last release wrote (the file
 * backend keeps that in the update history only): restore it before a plain preview or up.
 */
export function configSync(stack: StackName, token: GithubTokenSecret): Step {
  return {
    name: `Restore what ${stack}'s last succeeded update ran (wepppy-cicd config sync)`,
    "working-directory": CICD_DIR,
    env: pulumiSecrets(token),
    run: script(`npx wepppy-cicd config sync -s ${stack} --json`),
  };
}

/** `pulumi config set --path` for one run; the value arrives through env, never inline, after `--` (a value starting with "-" is not a flag). */
export function configSet(stack: StackName, key: string, variable: string): string {
  return `pulumi config set --stack ${stack} --path '${NAMESPACE}:${key}' -- "\${${variable}}"`;
}

/** An environment secret; the name is checked against the secret table at compile time. */
export function secretRef(name: DeploySecretName | DriftSecretName | OperatorSecretName): string {
  return expr(`secrets.${name}`);
}

/** Logs the job's docker in to the registry with its environment's registry secrets (used by digest lookups). */
export function registryLogin(registryHost: string): Step {
  return {
    name: "Log in to the registry",
    uses: ACTIONS.dockerLogin,
    with: { registry: registryHost, username: secretRef("REGISTRY_USERNAME"), password: secretRef("REGISTRY_TOKEN") },
  };
}

/**
 * Code scanning rejects an empty file and SARIF that is not 2.1.0 with at least one run:
 * such a file is replaced with a valid one that has a run of this tool and no results,
 * which also closes the category's earlier alerts instead of failing the upload.
 */
export function sarifSteps(upload: (typeof SARIF_UPLOADS)[keyof typeof SARIF_UPLOADS]): Step[] {
  const minimal = JSON.stringify({
    version: "2.1.0",
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    runs: [{ tool: { driver: { name: upload.tool } }, results: [] }],
  });
  return [
    {
      name: `Make ${upload.file} valid SARIF`,
      if: expr("!cancelled()"),
      shell: "bash",
      env: { SARIF_FILE: upload.file, MINIMAL_SARIF: minimal },
      run: script(
        'command -v jq >/dev/null || { echo "::error::jq is needed to check SARIF"; exit 1; }',
        'if [ ! -s "${SARIF_FILE}" ] || ! jq -e \'.version == "2.1.0" and (.runs | type == "array" and length > 0)\' "${SARIF_FILE}" >/dev/null 2>&1; then',
        '  echo "::warning::${SARIF_FILE} was empty or not valid SARIF 2.1.0; uploading a run without results"',
        '  printf \'%s\\n\' "${MINIMAL_SARIF}" > "${SARIF_FILE}"',
        "fi",
      ),
    },
    {
      name: `Upload ${upload.file}`,
      if: expr("!cancelled()"),
      uses: ACTIONS.uploadSarif,
      with: { sarif_file: upload.file, category: upload.category },
    },
  ];
}

/** Polls the environment's first app page through the public route until it answers 200. */
export function healthStep(target: DeployTarget): Step {
  return {
    name: `Health: ${target.url}${target.smokePages[0]} answers`,
    shell: "bash",
    env: {
      PAGE_URL: `${target.url}${target.smokePages[0]}`,
      TRIES: String(target.tries),
      INTERVAL: String(target.intervalSeconds),
    },
    run: script(
      'for i in $(seq 1 "${TRIES}"); do',
      '  code="$(curl -sS -o /dev/null -w \'%{http_code}\' --max-time 10 "${PAGE_URL}" || true)"',
      '  if [ "${code}" = "200" ]; then echo "healthy after ${i} tries"; exit 0; fi',
      '  echo "try ${i}/${TRIES}: HTTP ${code}"',
      '  sleep "${INTERVAL}"',
      "done",
      'echo "::error::${PAGE_URL} did not answer 200 after ${TRIES} tries"',
      "exit 1",
    ),
  };
}

/** Fetches every smoke page (the test-support API is off outside dev). */
export function smokeStep(target: DeployTarget, condition?: string): Step {
  return {
    name: `Smoke: ${target.githubEnvironment} pages`,
    ...(condition ? { if: condition } : {}),
    shell: "bash",
    env: { BASE_URL: target.url, PAGES: target.smokePages.join(" ") },
    run: script(
      "failed=0",
      "for page in ${PAGES}; do",
      '  code="$(curl -sS -o /dev/null -w \'%{http_code}\' --max-time 30 "${BASE_URL}${page}" || true)"',
      '  echo "${page}: HTTP ${code}"',
      '  [ "${code}" = "200" ] || { echo "::error::${BASE_URL}${page} answered ${code}"; failed=1; }',
      "done",
      'exit "${failed}"',
    ),
  };
}

/** Stack-wide lock shared by the deploy and drift jobs of one stack. */
export function stackConcurrency(stack: StackName): Job["concurrency"] {
  return { group: `pulumi-stack-${stack}`, "cancel-in-progress": false };
}
