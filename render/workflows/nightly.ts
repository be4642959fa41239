import { NIGHTLY_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, expr, pulumiCommand, pulumiEnv, pulumiSecrets, pulumiSetup, script, stackConcurrency, wctlSetup } from "./common";
import { WorkflowContext } from "./context";
import { Job, Workflow } from "./types";

/**
 * Nightly: the comprehensive test tier (a CI runner), and per stack a drift check that
 * refreshes from the hosts and GitHub and fails when anything differs from the declaration
 * (the deploy runner, in the drift environment: read-only token, protected branch only).
 */
export function nightlyWorkflow(ctx: WorkflowContext): Workflow {
  const ciConfigured = new Set([ctx.testprod.stack, ctx.prod.stack]);
  const jobs: Record<string, Job> = {
    [NIGHTLY_JOBS.testComprehensive]: {
      "runs-on": ctx.labels.ci,
      "timeout-minutes": 90,
      steps: [
        ...wctlSetup(),
        { name: "Integration tests, comprehensive tier", run: script('wctl run-pytest tests/integration -m "integration and comprehensive"') },
      ],
    },
  };
  for (const stack of ctx.stacks) {
    jobs[NIGHTLY_JOBS.drift(stack)] = {
      "runs-on": ctx.labels.deploy,
      "timeout-minutes": 30,
      environment: { name: ctx.driftEnvironment },
      concurrency: stackConcurrency(stack),
      env: pulumiEnv(ctx),
      steps: [
        ...pulumiSetup(ctx),
        // CI sets the image tag (and hotfix settings) per deploy without committing them:
        // compare against the config of the last deployment, not the committed file.
        ...(ciConfigured.has(stack)
          ? [
              {
                name: `Take ${stack}'s config from its last deployment`,
                "working-directory": CICD_DIR,
                env: pulumiSecrets("CICD_READ_TOKEN"),
                run: script(`pulumi config refresh --stack ${stack} --force`),
              },
            ]
          : []),
        pulumiCommand(
          ctx,
          "preview",
          stack,
          { refresh: true, "expect-no-changes": true, "comment-on-summary": true },
          { id: "drift", env: pulumiSecrets("CICD_READ_TOKEN") },
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
