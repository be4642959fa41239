import { NIGHTLY_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, expr, pulumiCommand, pulumiEnv, pulumiSetup, script, secretRef, stackConcurrency, wctlSetup } from "./common";
import { WorkflowContext } from "./context";
import { Job, Workflow } from "./types";

/**
 * Nightly: the comprehensive test tier, and per stack a drift check that refreshes
 * from the hosts and GitHub and fails when anything differs from the declaration.
 */
export function nightlyWorkflow(ctx: WorkflowContext): Workflow {
  const ciConfigured = new Set([ctx.testprod.stack, ctx.prod.stack]);
  const jobs: Record<string, Job> = {
    [NIGHTLY_JOBS.testComprehensive]: {
      "runs-on": ctx.runnerLabels,
      "timeout-minutes": 90,
      steps: [
        ...wctlSetup(),
        { name: "Integration tests, comprehensive tier", run: script('wctl run-pytest tests/integration -m "integration and comprehensive"') },
      ],
    },
  };
  for (const stack of ctx.stacks) {
    jobs[NIGHTLY_JOBS.drift(stack)] = {
      "runs-on": ctx.runnerLabels,
      "timeout-minutes": 30,
      concurrency: stackConcurrency(stack),
      env: pulumiEnv(ctx),
      steps: [
        ...pulumiSetup(ctx),
        // CI sets the image tag (and hotfix settings) per deploy without committing them:
        // compare against the config of the last deployment, not the committed file.
        ...(ciConfigured.has(stack)
          ? [{ name: `Take ${stack}'s config from its last deployment`, "working-directory": CICD_DIR, run: script(`pulumi config refresh --stack ${stack} --force`) }]
          : []),
        pulumiCommand(
          ctx,
          "preview",
          stack,
          { refresh: true, "expect-no-changes": true, "comment-on-summary": true },
          { id: "drift", env: { GITHUB_TOKEN: secretRef("CICD_GITHUB_TOKEN") } },
        ),
        {
          name: "Report drift",
          if: expr("failure()"),
          shell: "bash",
          env: { STACK: stack },
          run: script(
            'echo "::error title=Drift on ${STACK}::the live ${STACK} stack differs from its declaration; see the preview above"',
            'echo "## Drift on ${STACK}: pulumi preview --refresh --expect-no-changes failed" >> "${GITHUB_STEP_SUMMARY}"',
          ),
        },
      ],
    };
  }
  return {
    name: WORKFLOW_TITLES.nightly,
    on: { schedule: [{ cron: ctx.nightlyCron }], workflow_dispatch: null },
    permissions: { contents: "read" },
    jobs,
  };
}
