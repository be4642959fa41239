import { z } from "zod";
import { PROMOTION_SOURCE, STACKS, StackName } from "./environments";
import * as f from "./fields";
import { bluegreen, digestRef, notify, promotion, release } from "./sections/bluegreen";
import { github } from "./sections/github";
import { agent } from "./sections/agent";
import { runner } from "./sections/runner";

/*
 * The single source of truth for a stack's settings: the types the program uses,
 * their defaults, the errors a bad stack file gets, and the README's config reference
 * (generated from this file by `npm run docs`). Keys are read from the stack file's
 * `config:` map under the `wepppy-cicd:` namespace, one top-level key per section.
 */

const deploy = z
  .strictObject({
    host: f.hostname("Host name of the environment's server (forest, forest1 or wepp1 in wepppy's LAN)."),
    address: f
      .address("Where SSH connects, when it differs from `host` (an IP, or a rig host's address).")
      .optional(),
    sshUser: f.unixUser("Deploy user on the host; must be in the docker group.").default("roger"),
    sshPort: f.port("SSH port on the host.").default(22),
    hostKey: f
      .hostKey(
        "The host's SSH public key, pinned: connections to any other key are refused. Required before the first `pulumi up` (get it on the host from /etc/ssh/ssh_host_ed25519_key.pub).",
      )
      .optional(),
    auto: f.flag("Deploy automatically when master's CI passes (true) or only by hand (false)."),
    rollback: f.oneOf(
      ["none", "manual", "automatic"],
      "What happens when a release goes bad: nothing, an operator's `wepppy-cicd rollback`, or an automatic switch back.",
    ),
    root: f
      .absolutePath("Directory on the host for wepppy-cicd itself: bin/ (the bootstrap, the agent, the root helper), deploy.json, releases/, runs/, the lock, audit.log, backups/.")
      .default("/opt/wepppy-cicd"),
    lockWaitSeconds: f.count(0, 3600, "How long a deploy waits for another one to finish before failing.").default(0),
    migrate: z
      .array(f.argvWord(), { error: "expected a list of command words" })
      .max(32, { error: "expected at most 32 command words" })
      .meta({ expected: "a list of command words", description: "Migration run in a one-off container of the new image before `up` (argv, no shell); empty for none." })
      .default([]),
  })
  .meta({ description: "Where the environment runs and how it is updated." });

/** The .env variables the stack writes itself (render/deploySettings.ts envTemplateValues): compose.env may not set them. */
export const STACK_ENV_KEYS = ["UID", "GID", "EXTERNAL_HOST", "EXTERNAL_HOST_DESCRIPTION", "SITE_PREFIX", "TEST_SUPPORT_ENABLED", "BATCH_RUNNER_ENABLED", "DEBUG", "WEPPPY_ENV_FILE"] as const;

const compose = z
  .strictObject({
    sourceDir: f
      .localPath(
        "Directory on the machine running Pulumi holding wepppy's docker/ files (compose files, defaults.env, caddy/); relative to this project.",
      )
      .default("../wepppy/docker"),
    projectDir: f.absolutePath("Directory on the host the compose files are copied to.").default("/opt/wepppy/docker"),
    sourceAt: f
      .oneOf(
        ["commit", "checkout"],
        "Which compose files a release deploys: `commit`, those of the commit its image was built from (read from the git checkout sourceDir is in, so a rollback runs its own release's files); `checkout`, sourceDir's files as they are.",
      )
      .default("checkout"),
    files: f.list(f.fileName(), "compose file names", "Compose files, in `-f` order, relative to sourceDir."),
    command: f
      .oneOf(["docker compose", "docker-compose"], "Compose command on the host: v2 on wepppy's hosts, v1 where only that exists.")
      .default("docker compose"),
    projectName: f.serviceName("Compose project name (`-p`).").default("wepppy"),
    appService: f.serviceName("The service running the weppcloud app: the health gate and the image swap target.").default("weppcloud"),
    appPort: f.port("Port the app listens on inside its container (gunicorn's --bind).").default(8000),
    candidate: f
      .flag("Gate a new build in a candidate container beside the running one before replacing it.")
      .default(true),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { error: "expected a variable name ([A-Za-z_][A-Za-z0-9_]*)" }),
        z
          .string({ error: "expected a string" })
          .regex(/^[\x21-\x7e]*$/, { error: "expected printable characters without spaces" })
          .refine((v) => !/["'`$#\\]/.test(v), { error: "expected no quote, $, # or backslash (the env file keeps values as written)" })
          .meta({ expected: "a plain value" }),
        { error: "expected a map of variable names to values" },
      )
      .refine((env) => !Object.keys(env).some((k) => (STACK_ENV_KEYS as readonly string[]).includes(k)), {
        error: `expected none of the variables the stack writes itself (${STACK_ENV_KEYS.join(", ")}): set runAs, site or features instead`,
      })
      .meta({
        expected: "a map of variable names to plain values",
        description:
          "More variables for the host's .env, plain (not secret): what a live host's .env holds that the release reads (CAP_SITE_KEY, OAUTH_*_CLIENT_ID); `wepppy-cicd adopt` sets them. The stack's own (UID, GID, EXTERNAL_HOST, SITE_PREFIX, the feature flags) cannot be overridden here.",
      })
      .default({}),
  })
  .meta({ description: "The wepppy compose stack on the host." });

const site = z
  .strictObject({
    domain: f.hostname("Public domain; the environment's URL is https://<domain>."),
    sitePrefix: f.urlPath("Path weppcloud is served under (SITE_PREFIX).").default("/weppcloud"),
  })
  .meta({ description: "How users reach the environment." });

const DEFAULT_REPOSITORY = "ghcr.io/rogerlew/wepppy";

const buildImage = z.strictObject({
  source: z.literal("build", { error: 'expected "build"' }).meta({ expected: '"build"', description: "Build on the host from a checkout." }),
  checkout: f.absolutePath("The wepppy checkout on the host that compose builds from."),
  ref: f.gitRef("The branch the developer works on in the checkout; the stack never checks it out, resets or cleans the checkout (a host build is the developer's own).").default("master"),
});

const registryImage = z.strictObject({
  source: z
    .literal("registry", { error: 'expected "registry"' })
    .meta({ expected: '"registry"', description: "Run a published image, pinned to the digest its tag has when deployed." }),
  repository: f.imageRepository("Image repository.").default(DEFAULT_REPOSITORY),
  tag: f.commitTag("Tag published by CI for a commit; CI sets it with `pulumi config set --path wepppy-cicd:image.tag ...`."),
});

const hotfix = z
  .strictObject({
    repository: f.imageRepository("Image repository of the hotfix.").default(DEFAULT_REPOSITORY),
    tag: f.commitTag("Commit tag of the hotfix image."),
    reason: f.prose("Why testprod is bypassed; written to the audit log."),
  })
  .meta({ description: "Run an image testprod has not run (Playbook 4). Recorded in the audit log." });

const promotedImage = z.strictObject({
  source: z
    .literal("promoted", { error: 'expected "promoted"' })
    .meta({ expected: '"promoted"', description: "Run a digest another stack ran, promoted explicitly." }),
  from: f.oneOf(STACKS, "Stack whose live digest is promoted.").default(PROMOTION_SOURCE),
  digest: digestRef(
    "The digest this stack runs: set by `wepppy-cicd promote` (the source stack's validated live digest) or `rollback`; `pulumi up` refuses without it.",
  ).optional(),
  commit: z
    .string({ error: "expected a commit SHA" })
    .regex(/^[0-9a-f]{7,40}$/, { error: "expected a commit SHA (7-40 hex digits)" })
    .meta({ expected: "a commit SHA", description: "The wepppy commit the digest was built from (its sha-<commit> tag on the source stack): set by `promote`, read when compose.sourceAt is commit." })
    .optional(),
  hotfix: hotfix.optional(),
});

const image = z
  .discriminatedUnion("source", [buildImage, registryImage, promotedImage], {
    error: 'expected image.source to be one of "build", "registry", "promoted"',
  })
  .meta({ description: "Which weppcloud image the environment runs (WEPPCLOUD_IMAGE)." });

const health = z
  .strictObject({
    required: f.flag("A failed health gate fails the deploy (false: reported only)."),
    monitoring: f.flag("Keep watching after a release (analysis window) and feed automatic rollback.").default(false),
    tries: f.count(1, 1000, "Health probes before the gate gives up.").default(30),
    intervalSeconds: f.count(1, 600, "Seconds between health probes.").default(10),
    smokePages: f
      .list(f.urlPath(), "URL paths", "Pages fetched through Caddy (X-Forwarded-Proto: https) where the test-support API is off.")
      .default(["/weppcloud/"]),
    skipSmoke: f.flag("Skip the smoke test (hotfixes only); recorded in the audit log.").default(false),
    smokeUrl: f.httpUrl("Where the host reaches Caddy for the smoke test (wepppy publishes it on CADDY_PORT, 8080).").default("http://127.0.0.1:8080"),
    smokeRunConfig: f.fileName("wepppy configuration the test-support smoke test creates a run of.").default("dev_unit_1"),
  })
  .meta({ description: "The gate a deploy must pass (spec: 30 tries, 10 s apart)." });

const backup = z
  .strictObject({
    schedule: f.oneOf(["none", "daily", "hourly"], "Scheduled pg_dump, installed as a timer on the host."),
    preDeploy: f.flag("Dump and verify the database before every deploy; a failed backup blocks the deploy."),
    keepCount: f.count(1, 10000, "Newest dumps kept.").default(48),
    keepDays: f.count(1, 3650, "Dumps older than this many days are removed.").default(7),
    drill: f.flag("Restore each scheduled backup into a scratch database and compare it with the live one (a restore drill, audited).").default(true),
    drillHours: f.count(0, 24 * 365, "A promotion to this stack requires a passed restore drill on its host this recent (`promote` runs one when it is older); 0: none required.").default(24),
  })
  .meta({ description: "Postgres backups (spec: none / daily / hourly + pre-deploy)." });

const features = z
  .strictObject({
    TEST_SUPPORT_ENABLED: f.flag("Registers the /tests/api endpoints the smoke test uses."),
    BATCH_RUNNER_ENABLED: f.flag("Enables the batch runner."),
    DEBUG: f.flag("Flask debug mode; never in production."),
  })
  .meta({ description: "wepppy feature flags written to the environment's env file." });

const ID = 2 ** 31 - 1;
const runAs = z
  .strictObject({
    uid: f.count(0, ID, "UID the services run as."),
    gid: f.count(0, ID, "GID the services run as; secret files are readable by this group."),
  })
  .meta({ description: "UID and GID written to the env file (wepppy's UID/GID)." });

const secrets = z
  .record(f.fileName(), z.string({ error: "expected a string" }).meta({ expected: "a string" }), {
    error: "expected a map of secret file names to values",
  })
  .meta({
    expected: "a map of secret file names to values",
    description:
      "Secrets issued elsewhere (OAuth client secrets, API keys), set with `pulumi config set --secret --path 'wepppy-cicd:secrets.<name>' <value>`. Every other secret is generated.",
  });

const registry = z
  .strictObject({
    username: f.unixUser("Registry user hosts log in as to pull (for ghcr.io: the GitHub user)."),
    password: z.string({ error: "expected a string" }).min(1, { error: "expected a non-empty token" }).meta({
      expected: "a token",
      description: "Registry token; set with `pulumi config set --secret --path 'wepppy-cicd:registry.password'`.",
    }),
  })
  .meta({ description: "Credentials hosts use to pull the image (secret: the whole section is never echoed)." });

const deployKey = z
  .string({ error: "expected an OpenSSH private key" })
  .regex(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n?$/, {
    error: "expected an OpenSSH private key",
  })
  .meta({
    expected: "an OpenSSH private key",
    description:
      "The runner's deploy key (GITHUB_RUNNER_DEPLOY_KEY); set with `pulumi config set --secret wepppy-cicd:deployKey < key`. Required before the first `pulumi up`.",
  });

export const stackConfigShape = {
  deploy,
  compose,
  site,
  image,
  health,
  backup,
  features,
  runAs,
  secrets: secrets.default({}),
  registry: registry.optional(),
  deployKey: deployKey.optional(),
  github: github.prefault({}),
  runner: runner.prefault({}),
  agent: agent.prefault({}),
  bluegreen: bluegreen.prefault({ enabled: false }),
  release: release.optional(),
  notify: notify.prefault({}),
  promotion: promotion.prefault({}),
};

/** Rules that span sections; each says why it exists in its message. */
function crossChecks(config: z.output<z.ZodObject<typeof stackConfigShape>>, ctx: z.RefinementCtx, stack: StackName) {
  if (stack === "prod" && config.image.source !== "promoted") {
    ctx.addIssue({
      code: "custom",
      path: ["image", "source"],
      input: config.image.source,
      message: `expected "promoted" for the prod stack: prod runs only what ${PROMOTION_SOURCE} ran (use image.hotfix to bypass, audited)`,
    });
  }
  if (config.image.source === "promoted" && config.image.from === stack) {
    ctx.addIssue({
      code: "custom",
      path: ["image", "from"],
      input: config.image.from,
      message: "expected another stack: a stack cannot promote from itself",
    });
  }
  if (config.deploy.rollback === "automatic" && !config.health.required) {
    ctx.addIssue({
      code: "custom",
      path: ["health", "required"],
      input: config.health.required,
      message: "expected true when deploy.rollback is \"automatic\": rollback is triggered by the health gate",
    });
  }
}

function blueGreenChecks(config: z.output<z.ZodObject<typeof stackConfigShape>>, ctx: z.RefinementCtx, stack: StackName) {
  if (config.bluegreen.enabled && config.image.source === "build") {
    ctx.addIssue({
      code: "custom",
      path: ["bluegreen", "enabled"],
      input: true,
      message: "expected false when image.source is \"build\": colours run published digests",
    });
  }
  if (config.bluegreen.enabled && config.compose.files.length !== 1) {
    ctx.addIssue({
      code: "custom",
      path: ["compose", "files"],
      input: config.compose.files,
      message: "expected exactly one compose file when bluegreen.enabled: the colours are derived from its app service",
    });
  }
  if (config.release?.tag && stack !== "prod") {
    ctx.addIssue({ code: "custom", path: ["release", "tag"], input: config.release.tag, message: "expected no release tag outside prod" });
  }
}

export function stackConfigSchema(stack: StackName) {
  return z.strictObject(stackConfigShape).superRefine((config, ctx) => {
    crossChecks(config, ctx, stack);
    blueGreenChecks(config, ctx, stack);
  });
}

export type StackConfig = z.output<ReturnType<typeof stackConfigSchema>>;
export type ImageConfig = StackConfig["image"];

/** Config keys whose values are never echoed in an error. */
export const SECRET_SECTIONS = new Set(["secrets", "registry", "deployKey", "notify"]);
