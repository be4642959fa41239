import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { remote, types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PROMOTION_SOURCE, StackName } from "../../config/environments";
import { StackConfig } from "../../config/schema";
import { relativeMounts, servicesWithSecret, serviceNames } from "../../render/composeFile";
import { ColourImages } from "../../render/bluegreen/colours";
import { registryOf } from "../../render/images";
import { BlueGreenFiles } from "../../render/bluegreen/files";
import { BLUEGREEN, accessLogPath } from "../../render/bluegreen/constants";
import * as host from "../../render/hostCommands";
import { HOST_SCRIPT } from "../../config/paths";


export interface ComposeDeploymentArgs {
  stack: StackName;
  config: StackConfig;
  /** Absolute directory holding wepppy's docker/ files on the machine running Pulumi. */
  sourceDir: string;
  /** The parsed compose files, in `-f` order. */
  composeDocs: Record<string, unknown>[];
  /** The image that must be live (digest-pinned where there is a digest); on blue/green the host picks its colour. */
  imageRef: pulumi.Output<string>;
  /** Secret file name -> value, for docker/secrets/. */
  secretValues: pulumi.Output<Record<string, string>>;
  /** Set when prod runs a hotfix testprod has not run; recorded by the deploy. */
  hotfixReason?: string;
  /** Blue/green: the generated compose file and Caddyfile. */
  bluegreen?: BlueGreenFiles;
}

/** The generated compose file the host runs instead of wepppy's when blue/green is on. */
export const BLUEGREEN_COMPOSE_FILE = "docker-compose.bluegreen.yml";

function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** What the host says after a deploy (its last stdout line, JSON): the image live, and on blue/green the colours. */
export interface DeployVerdict {
  image: string;
  live?: ColourImages["live"];
  images?: { blue: string; green: string };
}

export function parseVerdict(stdout: string | undefined): DeployVerdict {
  const line = (stdout ?? "").trim().split("\n").pop() ?? "";
  try {
    const v = JSON.parse(line) as DeployVerdict;
    if (typeof v.image === "string") return v;
  } catch {
    // an older host script printed the image alone
  }
  return { image: line };
}

function executable(file: string): boolean {
  return (fs.statSync(file).mode & 0o111) !== 0;
}

function resourceName(file: string): string {
  return file.replace(/[^A-Za-z0-9.-]/g, "-");
}

/**
 * One environment's wepppy compose stack on its host, over SSH with a pinned host key:
 * copies the compose files and what they mount, writes the env file and the secrets,
 * then runs the host script's deploy (lock, backup, pull, migrate, gate, up, smoke,
 * audit). Its trigger is a digest of everything deployed, so an unchanged stack runs
 * nothing on the host.
 */
export class ComposeDeployment extends pulumi.ComponentResource {
  readonly layout: host.HostLayout;
  /** The image the host reports live after the deploy. */
  readonly liveImage: pulumi.Output<string>;
  /** Blue/green: the colours as the host reports them after the deploy. */
  readonly colours: pulumi.Output<ColourImages | null>;
  readonly copiedFiles: string[];

  constructor(name: string, args: ComposeDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:index:ComposeDeployment", name, {}, opts);
    const { config } = args;
    const deploy = config.deploy;
    if (!deploy.hostKey || !config.deployKey) {
      throw new Error(
        `ComposeDeployment ${name}: deploy.hostKey and deployKey must both be set to deploy (the host key is pinned; connections without it are refused)`,
      );
    }
    const layout = host.hostLayout(deploy.root, config.compose.projectDir);
    this.layout = layout;
    const connection: types.input.remote.ConnectionArgs = {
      host: deploy.address ?? deploy.host,
      port: deploy.sshPort,
      user: deploy.sshUser,
      hostKey: deploy.hostKey,
      privateKey: pulumi.secret(config.deployKey),
      dialErrorLimit: 3,
      perDialTimeout: 10,
    };
    const child = { parent: this };
    const building = config.image.source === "build";
    // A connection change is an Update, and an Update of a copy copies nothing unless the
    // file changed (copyController.go:148): a moved or rebuilt host would get none of the
    // files. The host's identity in the triggers of setup and copies replaces them instead.
    const target = `${connection.user}@${connection.host}:${connection.port} ${deploy.hostKey}`;

    // What the compose files read from beside themselves. A dev host runs its checkout in place.
    const wanted = building ? [] : [...config.compose.files, ...args.composeDocs.flatMap(relativeMounts), "defaults.env"];
    this.copiedFiles = [...new Set(wanted)].filter((file) => {
      const local = path.join(args.sourceDir, file);
      if (fs.existsSync(local) && fs.statSync(local).isFile()) return true;
      pulumi.log.warn(`${file} is mounted by the compose files but is not a file in ${args.sourceDir}; the host's own copy is used`, this);
      return false;
    });
    const subdirs = [...new Set(this.copiedFiles.map((f) => path.posix.dirname(f)).filter((d) => d !== "."))].map((d) =>
      path.posix.join(layout.projectDir, d),
    );

    const bgDirs = args.bluegreen ? [layout.markerDir, layout.accessLogDir] : [];
    const setup = new remote.Command(
      `${name}-setup`,
      { connection, create: host.setupCommand(layout, deploy.sshUser, [...subdirs, ...bgDirs]), triggers: [target] },
      child,
    );
    const scriptText = fs.readFileSync(HOST_SCRIPT);
    const script = new remote.CopyToRemote(
      `${name}-script`,
      { connection, source: new pulumi.asset.FileAsset(HOST_SCRIPT), remotePath: layout.script, triggers: [target, sha256(scriptText)] },
      { ...child, dependsOn: [setup] },
    );
    const copies = this.copiedFiles.map((file) => {
      const local = path.join(args.sourceDir, file);
      return new remote.CopyToRemote(
        `${name}-file-${resourceName(file)}`,
        {
          connection,
          source: new pulumi.asset.FileAsset(local),
          remotePath: path.posix.join(layout.projectDir, file),
          triggers: [target, sha256(fs.readFileSync(local))],
        },
        { ...child, dependsOn: [setup] },
      );
    });
    const fileHashes = this.copiedFiles.map((file) => `${file}:${sha256(fs.readFileSync(path.join(args.sourceDir, file)))}`);
    // SFTP creates new files 0644 whatever their local mode (and keeps an existing file's):
    // a file wepppy runs directly (redis-entrypoint.sh) would not be executable on a fresh host.
    const modes = new remote.Command(
      `${name}-file-modes`,
      { connection, create: host.fileModesCommand(this.copiedFiles.map((f) => ({ path: path.posix.join(layout.projectDir, f), mode: executable(path.join(args.sourceDir, f)) ? "0755" : "0644" }))), triggers: [target, ...fileHashes] },
      { ...child, dependsOn: copies },
    );

    const conf = host.renderDeployConf(deployConf(args));
    const confCommand = new remote.Command(
      `${name}-conf`,
      { connection, create: host.installFileCommand(layout, layout.conf), stdin: conf },
      { ...child, dependsOn: [script] },
    );

    const defaults = path.join(args.sourceDir, "defaults.env");
    const defaultsText = building || !fs.existsSync(defaults) ? "" : fs.readFileSync(defaults, "utf8");
    const envText = args.imageRef.apply((image) => host.renderEnvFile(defaultsText, envValues(args, image)));
    const envCommand = new remote.Command(
      `${name}-env`,
      { connection, create: host.installFileCommand(layout, layout.envNext), stdin: envText },
      { ...child, dependsOn: [script] },
    );

    const secretsDigest = pulumi.secret(args.secretValues.apply((v) => sha256(host.secretsStream(v))));
    const secretsCommand = new remote.Command(
      `${name}-secrets`,
      {
        connection,
        create: host.writeSecretsCommand(layout),
        stdin: pulumi.secret(args.secretValues.apply(host.secretsStream)),
        logging: "none",
      },
      { ...child, dependsOn: [script], additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
    );

    const before: pulumi.Resource[] = [confCommand, envCommand, secretsCommand, modes, ...copies];
    const generatedHashes: string[] = [];
    if (args.bluegreen) {
      const files = [
        { id: "bluegreen-compose", target: path.posix.join(layout.projectDir, BLUEGREEN_COMPOSE_FILE), text: args.bluegreen.composeYaml },
        { id: "bluegreen-caddyfile", target: path.posix.join(layout.projectDir, args.bluegreen.caddyfilePath), text: args.bluegreen.caddyfile },
      ];
      for (const file of files) {
        generatedHashes.push(`${file.id}:${sha256(file.text)}`);
        before.push(
          new remote.Command(
            `${name}-${file.id}`,
            { connection, create: host.installFileCommand(layout, file.target), stdin: file.text },
            { ...child, dependsOn: [script, ...copies] },
          ),
        );
      }
    }
    if (config.registry && config.image.source !== "build") {
      // The registry of the image actually pulled: for prod, the one testprod's digest lives in.
      const server = args.imageRef.apply(registryOf);
      const username = config.registry.username;
      before.push(
        new remote.Command(
          `${name}-registry-login`,
          {
            connection,
            create: server.apply((s) => host.registryLoginCommand(s, username)),
            stdin: pulumi.secret(config.registry.password),
            logging: "none",
          },
          { ...child, dependsOn: [setup], additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        ),
      );
    }
    if (config.backup.schedule !== "none") {
      before.push(
        new remote.Command(
          `${name}-backup-schedule`,
          {
            connection,
            create: host.installTimerCommand(layout),
            delete: host.removeTimerCommand(layout),
            triggers: [config.backup.schedule, sha256(conf), sha256(scriptText)],
          },
          { ...child, dependsOn: [confCommand], deleteBeforeReplace: true },
        ),
      );
    }
    let built: pulumi.Output<string> = pulumi.output("");
    if (config.image.source === "build") {
      const build = new remote.Command(
        `${name}-build`,
        { connection, create: host.buildCommand(layout, config.image.checkout, config.image.ref), triggers: [config.image.ref] },
        { ...child, dependsOn: [confCommand, envCommand] },
      );
      before.push(build);
      built = build.stdout;
    }

    const run = new remote.Command(
      `${name}-deploy`,
      {
        connection,
        create: host.deployCommand(layout, { skipSmoke: config.health.skipSmoke, note: deployNote(config, args.hotfixReason) }),
        // The secrets command's stdin change is an Update that keeps its id, so its id says
        // nothing about a rotation: a digest of the secret values does, kept secret itself.
        triggers: [args.imageRef, sha256(conf), envText.apply(sha256), secretsDigest, sha256(scriptText), built, target, ...fileHashes, ...generatedHashes],
      },
      // Logs of a failed gate may quote the app: kept out of plain outputs.
      { ...child, dependsOn: before, additionalSecretOutputs: ["stderr"] },
    );
    const verdict = run.stdout.apply(parseVerdict);
    this.liveImage = verdict.apply((v) => v.image);
    this.colours = verdict.apply((v) => (v.live && v.images ? { live: v.live, blue: v.images.blue, green: v.images.green } : null));
    this.registerOutputs({ liveImage: this.liveImage, colours: this.colours });
  }
}

/** Settings of the host script (deploy.conf), derived from the stack and the compose files. */
/** What the deploy records with the release in the audit log: release id, tag, version, hotfix reason, note. */
export function deployNote(config: StackConfig, hotfixReason?: string): string | undefined {
  const r = config.release;
  const parts = [
    r ? ["release", r.id, r.tag, r.version, r.actor ? `by ${r.actor}` : undefined].filter(Boolean).join(" ") : "",
    hotfixReason ? `hotfix: ${hotfixReason}` : "",
    r?.note ?? "",
  ].filter(Boolean);
  return parts.length > 0 ? parts.join("; ") : undefined;
}

export function deployConf(args: Pick<ComposeDeploymentArgs, "stack" | "config" | "composeDocs" | "bluegreen">): Record<string, string | number | boolean> {
  const { config } = args;
  // With blue/green the host runs the generated file: its services are the ones that exist.
  const composeDocs = args.bluegreen ? [args.bluegreen.composeDoc] : args.composeDocs;
  const services = new Set(composeDocs.flatMap(serviceNames));
  const db = services.has("postgres") ? "postgres" : "";
  // Everything that holds the Postgres password talks to the database: stopped for a restore.
  const usesDb = [...new Set(composeDocs.flatMap((d) => servicesWithSecret(d, "postgres_password")))].filter((s) => s !== db);
  return {
    ENVIRONMENT: args.stack,
    PROJECT_DIR: config.compose.projectDir,
    COMPOSE_COMMAND: config.compose.command,
    COMPOSE_FILES: config.compose.files.join(" "),
    COMPOSE_PROJECT: config.compose.projectName,
    APP_SERVICE: config.compose.appService,
    APP_PORT: config.compose.appPort,
    CANDIDATE: config.compose.candidate,
    DB_SERVICE: db,
    REDIS_SERVICE: services.has("redis") ? "redis" : "",
    HEALTH_TRIES: config.health.tries,
    HEALTH_INTERVAL: config.health.intervalSeconds,
    HEALTH_REQUIRED: config.health.required,
    ROLLBACK: config.deploy.rollback,
    LOCK_WAIT: config.deploy.lockWaitSeconds,
    MIGRATE: config.deploy.migrate.join(" "),
    SMOKE: config.features.TEST_SUPPORT_ENABLED ? "test-support" : "pages",
    SMOKE_URL: config.health.smokeUrl,
    SMOKE_PAGES: config.health.smokePages.join(" "),
    SMOKE_RUN_CONFIG: config.health.smokeRunConfig,
    SKIP_SMOKE: config.health.skipSmoke,
    SITE_PREFIX: config.site.sitePrefix,
    BACKUP_PRE_DEPLOY: config.backup.preDeploy,
    BACKUP_SCHEDULE: config.backup.schedule,
    BACKUP_DIR: host.hostLayout(config.deploy.root, config.compose.projectDir).backups,
    BACKUP_KEEP_COUNT: config.backup.keepCount,
    BACKUP_KEEP_DAYS: config.backup.keepDays,
    STOP_FOR_RESTORE: (usesDb.length > 0 ? usesDb : [config.compose.appService]).join(" "),
    DEPLOY_USER: config.deploy.sshUser,
    VALIDATE: args.stack === PROMOTION_SOURCE,
    VALIDATE_RUN_CONFIGS: config.promotion.runConfigs.join(" "),
    VALIDATE_PAGES: config.promotion.pages.join(" "),
    ...(args.bluegreen ? blueGreenConf(config, args.bluegreen.composeDoc) : { BLUEGREEN: false }),
  };
}

/** Services `up` starts (no profile) that are neither a colour nor Caddy: they follow a release after the switch. */
function otherServices(doc: Record<string, unknown>): string[] {
  const skip = new Set<string>([BLUEGREEN.services.blue, BLUEGREEN.services.green, BLUEGREEN.caddyService]);
  return Object.entries((doc.services ?? {}) as Record<string, Record<string, unknown>>)
    .filter(([name, svc]) => !skip.has(name) && !("profiles" in svc))
    .map(([name]) => name);
}

function blueGreenConf(config: StackConfig, doc: Record<string, unknown>): Record<string, string | number | boolean> {
  const layout = host.hostLayout(config.deploy.root, config.compose.projectDir);
  const bg = config.bluegreen;
  return {
    BLUEGREEN: true,
    COMPOSE_FILES: BLUEGREEN_COMPOSE_FILE,
    BG_MARKER_DIR: layout.markerDir,
    BG_BLUE_SERVICE: BLUEGREEN.services.blue,
    BG_GREEN_SERVICE: BLUEGREEN.services.green,
    BG_BLUE_VAR: BLUEGREEN.imageVariables.blue,
    BG_GREEN_VAR: BLUEGREEN.imageVariables.green,
    BG_LIVE_VAR: BLUEGREEN.liveVariable,
    BG_CADDY_SERVICE: BLUEGREEN.caddyService,
    BG_ACCESS_LOG: accessLogPath(),
    BG_WARM_SECONDS: bg.warmSeconds,
    BG_CANARY: bg.canary.join(" "),
    // health.monitoring off: the release is judged by its gate and smoke test alone.
    BG_ANALYSIS_SECONDS: config.health.monitoring ? bg.analysis.seconds : 0,
    BG_ANALYSIS_INTERVAL: bg.analysis.intervalSeconds,
    BG_MAX_ERROR_PERCENT: bg.analysis.maxErrorPercent,
    BG_MIN_REQUESTS: bg.analysis.minRequests,
    BG_STEP_SECONDS: bg.analysis.stepSeconds,
    BG_OTHER_SERVICES: otherServices(doc).join(" "),
  };
}

/** The environment's values over wepppy's defaults.env (spec: Environment-Specific Configuration). */
export function envValues(args: Pick<ComposeDeploymentArgs, "config">, image: string): Record<string, string> {
  const { config } = args;
  const values: Record<string, string> = {
    UID: String(config.runAs.uid),
    GID: String(config.runAs.gid),
    EXTERNAL_HOST: config.site.domain,
    EXTERNAL_HOST_DESCRIPTION: config.deploy.host,
    SITE_PREFIX: config.site.sitePrefix,
    TEST_SUPPORT_ENABLED: String(config.features.TEST_SUPPORT_ENABLED),
    BATCH_RUNNER_ENABLED: String(config.features.BATCH_RUNNER_ENABLED),
    DEBUG: String(config.features.DEBUG),
    // The containers read this same file (wepppy's compose: env_file ${WEPPPY_ENV_FILE}).
    WEPPPY_ENV_FILE: ".env",
  };
  // On blue/green this is the image that must be live; the host writes each colour's image.
  if (config.image.source !== "build") values.WEPPCLOUD_IMAGE = image;
  return values;
}
