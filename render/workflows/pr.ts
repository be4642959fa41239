import { PR_JOBS, SARIF_UPLOADS, TRIVY_IMAGE, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, expr, pulumiCommand, pulumiEnv, pulumiSetup, sarifSteps, script, wctlSetup } from "./common";
import { WorkflowContext } from "./context";
import { Job, Workflow } from "./types";

/*
 * Pull request validation. Every job is a required check on the protected branch, so
 * the workflow has no path filters: a workflow skipped by a filter leaves its required
 * checks pending forever.
 */

/** The quality gates (this program's policy/ pack) run on every preview; policy-config.json sets each gate's enforcement. */
export function policyPackInputs(): Record<string, string> {
  const dir = `${expr("github.workspace")}/${CICD_DIR}/policy`;
  return { policyPacks: dir, policyPackConfigs: `${dir}/policy-config.json` };
}

export function prWorkflow(ctx: WorkflowContext): Workflow {
  const ci = ctx.runnerLabels;
  const after = [PR_JOBS.trustedSource];
  const scanImage = `wepppy-pr:${expr("github.sha")}`;

  const jobs: Record<string, Job> = {
    // The runner is a homelab host holding the stacks' passphrase: code from a fork never runs there.
    // Failing (not skipping) keeps the PR unmergeable: a skipped required check counts as passed.
    [PR_JOBS.trustedSource]: {
      "runs-on": ci,
      "timeout-minutes": 5,
      steps: [
        {
          name: "Refuse pull requests from other repositories",
          shell: "bash",
          env: { HEAD_REPOSITORY: expr("github.event.pull_request.head.repo.full_name") },
          run: script(
            'if [ "${HEAD_REPOSITORY}" != "${GITHUB_REPOSITORY}" ]; then',
            '  echo "::error::pull requests from ${HEAD_REPOSITORY} do not run on the self-hosted runner; push the branch to ${GITHUB_REPOSITORY}"',
            "  exit 1",
            "fi",
          ),
        },
      ],
    },
    [PR_JOBS.lint]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 30,
      permissions: { contents: "read", "security-events": "write" },
      steps: [
        ...wctlSetup(),
        { name: "Python lint (ruff, mypy)", run: script("wctl exec weppcloud ruff check wepppy/", "wctl exec weppcloud mypy wepppy/nodb/core/") },
        {
          name: "Go format",
          run: script("wctl exec status-build go fmt ./...", "wctl exec preflight-build go fmt ./...", "git diff --exit-code"),
        },
        { name: "Frontend lint", run: script("wctl run-npm lint") },
        {
          name: "Markdown docs lint (SARIF)",
          "continue-on-error": true,
          env: { SARIF_FILE: SARIF_UPLOADS.docs.file },
          run: script('wctl doc-lint --format sarif > "${SARIF_FILE}"'),
        },
        ...sarifSteps(SARIF_UPLOADS.docs),
      ],
    },
    [PR_JOBS.testPython]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 60,
      steps: [
        ...wctlSetup(),
        { name: "Unit tests", run: script('wctl run-pytest tests -m "unit" --maxfail=1') },
        { name: "Integration tests, fast tier", run: script('wctl run-pytest tests/integration -m "integration and fast"') },
      ],
    },
    [PR_JOBS.testGo]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 30,
      steps: [
        ...wctlSetup(),
        { name: "status tests", run: script("wctl run-status-tests", "wctl run-status-tests -tags=integration ./internal/server") },
        { name: "preflight tests", run: script("wctl run-preflight-tests", "wctl run-preflight-tests -tags=integration ./internal/server") },
      ],
    },
    [PR_JOBS.testFrontend]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 30,
      steps: [...wctlSetup(), { name: "Jest tests", run: script("wctl run-npm test") }, { name: "Static assets build", run: script("wctl build-static-assets") }],
    },
    [PR_JOBS.buildImage]: {
      "runs-on": ci,
      needs: [PR_JOBS.testPython, PR_JOBS.testGo, PR_JOBS.testFrontend],
      "timeout-minutes": 90,
      permissions: { contents: "read", "security-events": "write" },
      env: { SCAN_IMAGE: scanImage, TRIVY_IMAGE, SARIF_FILE: SARIF_UPLOADS.image.file },
      steps: [
        ...wctlSetup().slice(0, 1),
        { name: "Build the image", run: script('docker build --file docker/Dockerfile --tag "${SCAN_IMAGE}" .') },
        {
          name: "Scan the image (SARIF, every severity)",
          "continue-on-error": true,
          run: script(
            'mkdir -p "${HOME}/.cache/trivy"',
            "docker run --rm \\",
            '  --user "$(id -u):$(id -g)" --group-add "$(stat -c %g /var/run/docker.sock)" \\',
            '  -v /var/run/docker.sock:/var/run/docker.sock -v "${HOME}/.cache/trivy:/cache" -v "${PWD}:/out" \\',
            '  "${TRIVY_IMAGE}" image --cache-dir /cache --format sarif --output "/out/${SARIF_FILE}" "${SCAN_IMAGE}"',
          ),
        },
        ...sarifSteps(SARIF_UPLOADS.image),
        {
          name: "Fail on fixable critical vulnerabilities",
          run: script(
            "docker run --rm \\",
            '  --user "$(id -u):$(id -g)" --group-add "$(stat -c %g /var/run/docker.sock)" \\',
            '  -v /var/run/docker.sock:/var/run/docker.sock -v "${HOME}/.cache/trivy:/cache" \\',
            '  "${TRIVY_IMAGE}" image --cache-dir /cache --skip-db-update --severity CRITICAL --ignore-unfixed --exit-code 1 "${SCAN_IMAGE}"',
          ),
        },
        { name: "Remove the image", if: expr("always()"), run: script('docker image rm "${SCAN_IMAGE}" || true') },
      ],
    },
    [PR_JOBS.preview]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 30,
      permissions: { contents: "read", "pull-requests": "write" },
      env: pulumiEnv(ctx),
      steps: [
        ...pulumiSetup(ctx),
        ...ctx.stacks.map((stack) =>
          pulumiCommand(ctx, "preview", stack, { "comment-on-pr": true, "always-include-summary": true, ...policyPackInputs() }),
        ),
      ],
    },
  };

  return {
    name: WORKFLOW_TITLES.pr,
    on: { pull_request: { branches: [ctx.branch] } },
    permissions: { contents: "read" },
    concurrency: { group: `pr-${expr("github.event.pull_request.number")}`, "cancel-in-progress": true },
    jobs,
  };
}
