import { ACTIONS, CI_CONFIG_KEYS, MAIN_JOBS, WORKFLOW_TITLES } from "../../config/githubNames";
import {
  CICD_DIR,
  configSet,
  expr,
  healthStep,
  pulumiCommand,
  pulumiEnv,
  pulumiSecrets,
  pulumiSetup,
  registryLogin,
  script,
  smokeStep,
  stackConcurrency,
  wctlSetup,
} from "./common";
import { WorkflowContext } from "./context";
import { Workflow } from "./types";

/** `YYYY.MM.PATCH[-PRERELEASE]`, the spec's version scheme, read from wepppy's VERSION file when it has one. */
export const VERSION_PATTERN = "^[0-9]{4}\\.[0-9]{1,2}\\.[0-9]+(-[A-Za-z0-9.]+)?$";

export function registryHost(imageRepository: string): string {
  return imageRepository.split("/")[0];
}

/** Master: build and push `sha-<commit>` (and the version), run the standard tier, then `pulumi up -s testprod`. */
export function mainWorkflow(ctx: WorkflowContext): Workflow {
  const target = ctx.testprod;
  const build = MAIN_JOBS.buildImage;
  return {
    name: WORKFLOW_TITLES.main,
    on: { push: { branches: [ctx.branch] } },
    permissions: { contents: "read" },
    jobs: {
      [build]: {
        "runs-on": ctx.labels.builder,
        "timeout-minutes": 120,
        permissions: { contents: "read", packages: "write" },
        outputs: { tag: expr("steps.tags.outputs.tag"), digest: expr("steps.build.outputs.digest") },
        steps: [
          { name: "Check out wepppy", uses: ACTIONS.checkout, with: { "persist-credentials": false } },
          {
            id: "tags",
            name: "Derive the image tags",
            shell: "bash",
            env: { IMAGE: ctx.imageRepository, VERSION_PATTERN },
            run: script(
              'tag="sha-${GITHUB_SHA}"',
              '{ echo "tag=${tag}"; echo "tags<<EOF"; echo "${IMAGE}:${tag}"',
              '  if [ -f VERSION ] && grep -Eq "${VERSION_PATTERN}" VERSION; then echo "${IMAGE}:$(cat VERSION)"; fi',
              '  echo "EOF"; } >> "${GITHUB_OUTPUT}"',
            ),
          },
          {
            name: "Log in to the registry",
            uses: ACTIONS.dockerLogin,
            with: { registry: registryHost(ctx.imageRepository), username: expr("github.actor"), password: expr("secrets.GITHUB_TOKEN") },
          },
          { name: "Set up Docker Buildx", uses: ACTIONS.setupBuildx },
          {
            id: "build",
            name: "Build and push",
            uses: ACTIONS.buildPush,
            with: {
              context: ".",
              file: "docker/Dockerfile",
              platforms: "linux/amd64",
              push: true,
              tags: expr("steps.tags.outputs.tags"),
              labels: `org.opencontainers.image.revision=${expr("github.sha")}`,
            },
          },
        ],
      },
      [MAIN_JOBS.testStandard]: {
        "runs-on": ctx.labels.ci,
        "timeout-minutes": 60,
        steps: [
          ...wctlSetup(),
          { name: "Integration tests, standard tier", run: script('wctl run-pytest tests/integration -m "integration and slow"') },
        ],
      },
      // The deploy runner; its credentials are test-production's environment secrets, given
      // only to the steps that run Pulumi.
      [MAIN_JOBS.deploy]: {
        "runs-on": ctx.labels.deploy,
        needs: [build, MAIN_JOBS.testStandard],
        "timeout-minutes": 60,
        environment: { name: target.githubEnvironment, url: target.url },
        concurrency: stackConcurrency(target.stack),
        env: pulumiEnv(ctx),
        steps: [
          ...pulumiSetup(ctx),
          registryLogin(registryHost(ctx.imageRepository)),
          {
            name: `Point ${target.stack} at this commit's image`,
            "working-directory": CICD_DIR,
            env: { IMAGE_TAG: expr(`needs.${build}.outputs.tag`), ...pulumiSecrets("CICD_ENVIRONMENTS_TOKEN") },
            run: script(configSet(target.stack, CI_CONFIG_KEYS.imageTag, "IMAGE_TAG")),
          },
          pulumiCommand(ctx, "up", target.stack, { message: `master ${expr("github.sha")}` }, {
            env: pulumiSecrets("CICD_ENVIRONMENTS_TOKEN"),
          }),
          healthStep(target),
          smokeStep(target),
        ],
      },
    },
  };
}
