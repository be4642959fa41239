import { ROLLBACK_PROD_INPUTS, ROLLBACK_PROD_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, expr, healthStep, pulumiEnv, pulumiSetup, registryLogin, script, secretRef, stackConcurrency } from "./common";
import { registryHost } from "./main";
import { WorkflowContext } from "./context";
import { Workflow } from "./types";

/**
 * Rollback without a shell: `wepppy-cicd rollback --stack prod` (the newest earlier update
 * that ran another image, or update N), dispatched by a person or an agent. The job runs in
 * the production environment, so its reviewers approve it before anything changes.
 */
export function rollbackProdWorkflow(ctx: WorkflowContext): Workflow {
  const target = ctx.prod;
  return {
    name: WORKFLOW_TITLES.rollbackProd,
    on: {
      workflow_dispatch: {
        inputs: {
          [ROLLBACK_PROD_INPUTS.to]: {
            description: `Update of ${target.stack} to go back to (a version from \`pulumi stack history\`); empty: the newest earlier update that ran another image`,
            required: false,
            type: "string",
          },
        },
      },
    },
    permissions: { contents: "read" },
    jobs: {
      [ROLLBACK_PROD_JOBS.rollback]: {
        "runs-on": ctx.runnerLabels,
        "timeout-minutes": 45,
        environment: { name: target.githubEnvironment, url: target.url },
        concurrency: stackConcurrency(target.stack),
        env: { ...pulumiEnv(ctx), TO_UPDATE: expr(`inputs.${ROLLBACK_PROD_INPUTS.to}`) },
        steps: [
          {
            name: "Check the inputs",
            shell: "bash",
            run: script('if [ -n "${TO_UPDATE}" ] && ! [[ "${TO_UPDATE}" =~ ^[1-9][0-9]{0,8}$ ]]; then', `  echo "::error::${ROLLBACK_PROD_INPUTS.to} must be an update version (a positive whole number)"; exit 1`, "fi"),
          },
          ...pulumiSetup(ctx),
          // An earlier update may run a hotfix image, which the program pins through the registry.
          registryLogin(registryHost(ctx.imageRepository)),
          {
            name: `Roll ${target.stack} back (wepppy-cicd rollback)`,
            id: "rollback",
            "working-directory": CICD_DIR,
            shell: "bash",
            env: { GITHUB_TOKEN: secretRef("CICD_GITHUB_TOKEN") },
            run: script(
              `args=(rollback --stack ${target.stack} --json)`,
              'if [ -n "${TO_UPDATE}" ]; then args+=(--to "${TO_UPDATE}"); fi',
              'status=0',
              'npx wepppy-cicd "${args[@]}" > "${RUNNER_TEMP}/rollback.json" || status=$?',
              'cat "${RUNNER_TEMP}/rollback.json"',
              'node -e \'const r = require(process.argv[1]); console.log("## Rollback of " + r.stack + ": " + (r.summary ?? ""))\' "${RUNNER_TEMP}/rollback.json" >> "${GITHUB_STEP_SUMMARY}" || true',
              'exit "${status}"',
            ),
          },
          healthStep(target),
        ],
      },
    },
  };
}
