import { CI_CONFIG_KEYS, DEPLOY_PROD_INPUTS, DEPLOY_PROD_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import {
  CICD_DIR,
  WEPPPY_DIR,
  configSet,
  expr,
  healthStep,
  pulumiEnv,
  pulumiSecrets,
  pulumiSetup,
  registryLogin,
  script,
  smokeStep,
  stackConcurrency,
} from "./common";
import { WorkflowContext } from "./context";
import { registryHost } from "./main";
import { Workflow } from "./types";

/** The schema's commit tag rule (config/fields.ts), checked again before a value reaches the stack. */
const COMMIT_TAG = "^(master|sha)-[0-9a-f]{7,40}$";

/** The promotion's or the hotfix's --json result, which record-release reads. */
const RELEASE_RESULT = "release.json";

/**
 * Promotion: `wepppy-cicd promote`, which puts the digest testprod has live (and has
 * validated) on prod's idle colour and switches to it. An image tag, when given, must be
 * what testprod runs (so what was validated is what ships); with a hotfix reason it is
 * deployed by `wepppy-cicd hotfix` as an audited hotfix that bypasses testprod instead.
 * Either way the release is recorded (tags on the image's commit, a GitHub Release).
 */
export function deployProdWorkflow(ctx: WorkflowContext): Workflow {
  const target = ctx.prod;
  const source = ctx.testprod.stack;
  const input = (name: string) => expr(`inputs.${name}`);
  return {
    name: WORKFLOW_TITLES.deployProd,
    on: {
      workflow_dispatch: {
        inputs: {
          [DEPLOY_PROD_INPUTS.imageTag]: {
            description: `Image tag (sha-<commit>) expected to be live on ${source}; with a hotfix reason, the hotfix image`,
            required: false,
            type: "string",
          },
          [DEPLOY_PROD_INPUTS.skipSmoke]: {
            description: "Skip smoke tests (emergencies only; recorded in the audit log)",
            required: false,
            type: "boolean",
            default: false,
          },
          [DEPLOY_PROD_INPUTS.hotfixReason]: {
            description: `Deploy image_tag as a hotfix that bypasses ${source}: why (recorded in the audit log)`,
            required: false,
            type: "string",
          },
        },
      },
    },
    permissions: { contents: "read" },
    jobs: {
      // The deploy runner; production's environment secrets (after a reviewer's approval)
      // reach only the steps that run Pulumi, and the job's token only the step that pushes.
      [DEPLOY_PROD_JOBS.deploy]: {
        "runs-on": ctx.labels.deploy,
        "timeout-minutes": 90,
        permissions: { contents: "write" },
        environment: { name: target.githubEnvironment, url: target.url },
        concurrency: stackConcurrency(target.stack),
        env: {
          ...pulumiEnv(ctx),
          IMAGE_TAG: input(DEPLOY_PROD_INPUTS.imageTag),
          SKIP_SMOKE: expr(`inputs.${DEPLOY_PROD_INPUTS.skipSmoke} && 'true' || 'false'`),
          HOTFIX_REASON: input(DEPLOY_PROD_INPUTS.hotfixReason),
          IMAGE: ctx.imageRepository,
        },
        steps: [
          {
            name: "Check the inputs",
            shell: "bash",
            env: { COMMIT_TAG },
            run: script(
              'if [ -n "${IMAGE_TAG}" ] && ! [[ "${IMAGE_TAG}" =~ ${COMMIT_TAG} ]]; then',
              '  echo "::error::image_tag must be master-<sha> or sha-<sha>"; exit 1',
              "fi",
              'if [ -n "${HOTFIX_REASON}" ] && [ -z "${IMAGE_TAG}" ]; then',
              '  echo "::error::a hotfix needs image_tag"; exit 1',
              "fi",
            ),
          },
          ...pulumiSetup(ctx),
          registryLogin(registryHost(ctx.imageRepository)),
          {
            name: `Check that image_tag is what ${source} runs`,
            if: expr(`inputs.${DEPLOY_PROD_INPUTS.imageTag} != '' && inputs.${DEPLOY_PROD_INPUTS.hotfixReason} == ''`),
            "working-directory": CICD_DIR,
            shell: "bash",
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
            run: script(
              `live="$(pulumi stack output --stack ${source} imageDigest)"`,
              'wanted="sha256:$(docker buildx imagetools inspect --raw "${IMAGE}:${IMAGE_TAG}" | sha256sum | cut -d" " -f1)"',
              'if [ "${live}" != "${wanted}" ]; then',
              `  echo "::error::\${IMAGE}:\${IMAGE_TAG} is \${wanted}, but ${source} runs \${live}: promote what was validated, or deploy a hotfix"`,
              "  exit 1",
              "fi",
            ),
          },
          {
            name: "Record whether smoke tests run",
            "working-directory": CICD_DIR,
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
            run: script(configSet(target.stack, CI_CONFIG_KEYS.skipSmoke, "SKIP_SMOKE")),
          },
          {
            // Blue/green: testprod's validated digest onto prod's idle colour, switched, watched;
            // the CLI restores prod's config when the host switches back.
            name: `Promote ${source}'s live digest (wepppy-cicd promote)`,
            id: "promote",
            if: expr(`inputs.${DEPLOY_PROD_INPUTS.hotfixReason} == ''`),
            "working-directory": CICD_DIR,
            shell: "bash",
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
            run: script(
              `npx wepppy-cicd promote --json > "\${RUNNER_TEMP}/${RELEASE_RESULT}" || { cat "\${RUNNER_TEMP}/${RELEASE_RESULT}"; exit 1; }`,
            ),
          },
          {
            // The hotfix is a release like a promotion (tag, version, backup, gate, switch), without
            // testprod's evidence: its result names the reason and the checks skipped.
            name: `Hotfix: bypass ${source} (wepppy-cicd hotfix, audited)`,
            id: "hotfix",
            if: expr(`inputs.${DEPLOY_PROD_INPUTS.hotfixReason} != ''`),
            "working-directory": CICD_DIR,
            shell: "bash",
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
            run: script(
              `npx wepppy-cicd hotfix --image "\${IMAGE}:\${IMAGE_TAG}" --reason "\${HOTFIX_REASON}" --json > "\${RUNNER_TEMP}/${RELEASE_RESULT}" || { cat "\${RUNNER_TEMP}/${RELEASE_RESULT}"; exit 1; }`,
            ),
          },
          healthStep(target),
          smokeStep(target, expr(`!inputs.${DEPLOY_PROD_INPUTS.skipSmoke}`)),
          {
            // The tags go on the commit the promoted image was built from, not on this checkout's
            // HEAD; the GitHub Release carries the evidence. The job's token (contents: write)
            // reaches git only as configuration in the environment, never on a command line.
            name: "Record the release (tags on the image's commit, GitHub Release)",
            "working-directory": CICD_DIR,
            env: { PUSH_TOKEN: expr("github.token"), GITHUB_TOKEN: expr("github.token") },
            run: script(
              "export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.https://github.com/.extraheader",
              'GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $(printf \'x-access-token:%s\' "${PUSH_TOKEN}" | base64 -w0)"',
              "export GIT_CONFIG_VALUE_0",
              `npx wepppy-cicd record-release --from "\${RUNNER_TEMP}/${RELEASE_RESULT}" --checkout "\${GITHUB_WORKSPACE}/${WEPPPY_DIR}" --push origin --github ${ctx.owner}/${ctx.repository}`,
            ),
          },
        ],
      },
    },
  };
}
