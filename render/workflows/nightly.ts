import { NIGHTLY_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import { configSync, expr, pulumiCommand, pulumiEnv, pulumiSecrets, pulumiSetup, script, stackConcurrency, wctlSetup } from "./common";
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
        // What releases wrote lives in the update history, not in the committed file: compare
        // against the newest succeeded update (config refresh would take a failed one too).
        ...(ciConfigured.has(stack) ? [configSync(stack, "CICD_READ_TOKEN")] : []),
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
