import { ACTIONS, PR_JOBS, SARIF_UPLOADS, TRIVY_IMAGE, WORKFLOW_TITLES } from "../../config/githubNames";
import { CICD_DIR, WEPPPY_DIR, expr, sarifSteps, script, wctlSetup } from "./common";
import { WorkflowContext } from "./context";
import { Job, Workflow } from "./types";

/*
 * Pull request validation. Every job is a required check on the protected branch, so
 * the workflow has no path filters: a workflow skipped by a filter leaves its required
 * checks pending forever. Every job runs pull request code on a CI runner and holds no
 * credential: no secret, no passphrase, no state, no environment. Previews of the stacks
 * need the passphrase, so they run where it is (the deploy jobs and the nightly drift
 * checks), never on a pull request.
 */

export function prWorkflow(ctx: WorkflowContext): Workflow {
  const ci = ctx.labels.ci;
  const after = [PR_JOBS.trustedSource];
  const scanImage = `wepppy-pr:${expr("github.sha")}`;

  const jobs: Record<string, Job> = {
    // Not a control (a fork's pull request can edit this file): the controls are the Actions
    // policy (a maintainer approves every outside contributor's run) and that these jobs hold
    // nothing. It keeps a fork's PR unmergeable: failing, not skipping (a skipped check passes).
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
    // The quality gates, judged offline on each stack's graph: nothing here can decrypt the
    // stacks' config (no passphrase on a PR), so the graph is evaluated with placeholders.
    [PR_JOBS.qualityGates]: {
      "runs-on": ci,
      needs: after,
      "timeout-minutes": 20,
      permissions: { contents: "read" },
      steps: [
        { name: "Check out wepppy", uses: ACTIONS.checkout, with: { path: WEPPPY_DIR, "persist-credentials": false } },
        { name: "Check out the pipeline program", uses: ACTIONS.checkout, with: { repository: ctx.cicdRepository, ref: ctx.cicdRef, path: CICD_DIR, "persist-credentials": false } },
        { name: "Set up Node.js", uses: ACTIONS.setupNode, with: { "node-version": "20" } },
        { name: "Install the program's dependencies", "working-directory": CICD_DIR, run: "npm ci --no-audit --no-fund\n" },
        { name: "Judge every stack with the policy pack (wepppy-cicd policy check)", "working-directory": CICD_DIR, run: script("npx wepppy-cicd policy check") },
      ],
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
  };

  return {
    name: WORKFLOW_TITLES.pr,
    on: { pull_request: { branches: [ctx.branch] } },
    permissions: { contents: "read" },
    concurrency: { group: `pr-${expr("github.event.pull_request.number")}`, "cancel-in-progress": true },
    jobs,
  };
}
