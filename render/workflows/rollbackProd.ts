import { ROLLBACK_PROD_INPUTS, ROLLBACK_PROD_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, expr, healthStep, pulumiEnv, pulumiSecrets, pulumiSetup, registryLogin, script, stackConcurrency } from "./common";
import { registryHost } from "./main";
import { WorkflowContext } from "./context";
import { Workflow } from "./types";

/**
 * Rollback without a shell: `wepppy-cicd rollback --stack prod` (the newest earlier update
 * that ran another image, or the one named by its release id or start time), dispatched by
 * a person or an agent. The job runs in
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
            description: `Update of ${target.stack} to go back to: its release id or start time (see \`wepppy-cicd status\`); empty: the newest earlier update that ran another image`,
            required: false,
            type: "string",
          },
        },
      },
    },
    permissions: { contents: "read" },
    jobs: {
      [ROLLBACK_PROD_JOBS.rollback]: {
        "runs-on": ctx.labels.deploy,
        "timeout-minutes": 45,
        environment: { name: target.githubEnvironment, url: target.url },
        concurrency: stackConcurrency(target.stack),
        env: { ...pulumiEnv(ctx), TO_UPDATE: expr(`inputs.${ROLLBACK_PROD_INPUTS.to}`) },
        steps: [
          {
            name: "Check the inputs",
            shell: "bash",
            run: script('if [ -n "${TO_UPDATE}" ] && ! [[ "${TO_UPDATE}" =~ ^[A-Za-z0-9._:-]{1,64}$ ]]; then', `  echo "::error::${ROLLBACK_PROD_INPUTS.to} must be a release id or a start time (letters, digits, . _ : -)"; exit 1`, "fi"),
          },
          ...pulumiSetup(ctx),
          // An earlier update may run a hotfix image, which the program pins through the registry.
          registryLogin(registryHost(ctx.imageRepository)),
          {
            name: `Roll ${target.stack} back (wepppy-cicd rollback)`,
            id: "rollback",
            "working-directory": CICD_DIR,
            shell: "bash",
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
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
