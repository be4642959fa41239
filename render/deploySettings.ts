import * as path from "node:path/posix";
import { PROMOTION_SOURCE, StackName } from "../config/environments";
import { StackConfig } from "../config/schema";
import { hostLayout } from "../host/contract/layout";
import { DeployRequest, ReleaseRecord } from "../host/contract/records";
import { DeploySettings } from "../host/contract/settings";
import { BLUEGREEN, accessLogPath } from "./bluegreen/constants";
import { VALIDATION_COMPOSE_FILE, confinedAppPort } from "./caddyValidation";
import { renderEnvFile } from "../host/contract/envFile";
import { secretsInDirectory, serviceSecrets, servicesWithSecret, serviceNames } from "./composeFile";

/*
 * What the stack tells a host, rendered from the stack config and wepppy's compose
 * documents: the host settings (deploy.json, contract/settings.ts), the env template, and
 * a deploy request. Pure. This replaces deployConf/blueGreenConf/envValues of
 * program/components/composeDeployment.ts, with the same inputs; the host now decides the
 * colours, so nothing here says which colour is live nor what each colour runs.
 */

export interface DeploySettingsInput {
  stack: StackName;
  config: StackConfig;
  /** The parsed compose files, in -f order. */
  composeDocs: Record<string, unknown>[];
  /** Blue/green: the generated compose document (its services are the ones the host runs). */
  bluegreen?: { composeDoc: Record<string, unknown> };
}

type Json = Record<string, unknown>;

/** Service -> the secret files it mounts, relative to the project directory (./secrets/x -> secrets/x). */
export function secretsByService(docs: Json[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const doc of docs) {
    // Only files in secrets/ are the stack's (a /dev/null default is not a secret it writes).
    const files = Object.fromEntries(secretsInDirectory(doc).map((s) => [s.name, path.normalize(s.file.slice(2))]));
    for (const [service, secrets] of Object.entries(serviceSecrets(doc))) {
      for (const s of secrets) if (files[s.source]) (out[service] ??= new Set()).add(files[s.source]);
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, [...v].sort()]));
}

/** Services `up` starts (no profile) that are neither a colour nor Caddy: they follow a release after the switch. */
export function otherServices(doc: Json): string[] {
  const skip = new Set<string>([BLUEGREEN.services.blue, BLUEGREEN.services.green, BLUEGREEN.caddyService]);
  return Object.entries((doc.services ?? {}) as Record<string, Json>)
    .filter(([name, svc]) => !skip.has(name) && !("profiles" in svc))
    .map(([name]) => name);
}

/** Where a one-colour Caddy writes the access log the soak reads: inside its container (no mount), where the agent reads it. */
export const SOAK_ACCESS_LOG = "/var/log/wepppy-cicd/access.log";

/** How long the host soaks a release after its deploy: only the promotion source (testprod) does, for promotion.soakHours. */
export function soakSeconds(stack: StackName, config: StackConfig): number {
  return stack === PROMOTION_SOURCE ? Math.round(config.promotion.soakHours * 3600) : 0;
}

/**
 * Caddy's JSON access log, where the host reads 5xx answers: blue/green's (its generated
 * Caddyfile has it); a one-colour stack that soaks gets one added to wepppy's Caddyfile
 * (accessLogCaddyfile), read inside the Caddy container. Null: no Caddy, or no reason to log.
 */
export function soakAccessLog(stack: StackName, config: StackConfig, docs: Json[], bluegreen: boolean): { service: string; path: string } | null {
  if (bluegreen) return { service: BLUEGREEN.caddyService, path: accessLogPath() };
  if (soakSeconds(stack, config) === 0 || !docs.some((d) => serviceNames(d).includes(BLUEGREEN.caddyService))) return null;
  return { service: BLUEGREEN.caddyService, path: SOAK_ACCESS_LOG };
}

/**
 * Where the host's validation client reaches the test-support API: Caddy's validation
 * listener on the host's loopback (render/caddyValidation.ts), when the API is on and Caddy
 * fronts the app. Null: the API is off, or there is no Caddy to confine it.
 */
export function validationListener(config: StackConfig, docs: Json[]): { hostPort: number; url: string } | null {
  if (!config.features.TEST_SUPPORT_ENABLED || !docs.some((d) => serviceNames(d).includes(BLUEGREEN.caddyService))) return null;
  const port = config.promotion.validationPort;
  return { hostPort: port, url: `http://127.0.0.1:${port}` };
}

/** The `-f` list the agent runs compose with: blue/green's generated file in place of wepppy's, and the validation listener's. */
export function hostComposeFiles(config: StackConfig, docs: Json[]): string[] {
  return [...(config.bluegreen.enabled ? [BLUEGREEN.composeFile] : config.compose.files), ...(validationListener(config, docs) ? [VALIDATION_COMPOSE_FILE] : [])];
}

export function renderDeploySettings(args: DeploySettingsInput): DeploySettings {
  const { config } = args;
  // With blue/green the host runs the generated file: its services are the ones that exist.
  const docs = args.bluegreen ? [args.bluegreen.composeDoc] : args.composeDocs;
  const services = new Set(docs.flatMap(serviceNames));
  const db = services.has("postgres") ? "postgres" : "";
  // Everything that holds the Postgres password talks to the database: stopped for a restore.
  const usesDb = [...new Set(docs.flatMap((d) => servicesWithSecret(d, "postgres_password")))].filter((s) => s !== db);
  const layout = hostLayout(config.deploy.root, config.compose.projectDir);
  const bg = config.bluegreen;
  const listener = validationListener(config, args.composeDocs);
  return {
    version: 1,
    environment: args.stack,
    projectDir: config.compose.projectDir,
    compose: {
      command: config.compose.command,
      files: hostComposeFiles(config, args.composeDocs),
      project: config.compose.projectName,
    },
    app: { service: config.compose.appService, port: config.compose.appPort, candidate: config.compose.candidate, imageVariable: "WEPPCLOUD_IMAGE" },
    dbService: db,
    redisService: services.has("redis") ? "redis" : "",
    health: { tries: config.health.tries, intervalSeconds: config.health.intervalSeconds, required: config.health.required },
    rollback: config.deploy.rollback,
    lockWaitSeconds: config.deploy.lockWaitSeconds,
    migrate: [...config.deploy.migrate],
    smoke: {
      mode: config.features.TEST_SUPPORT_ENABLED ? "test-support" : "pages",
      url: config.health.smokeUrl,
      testSupportUrl: listener?.url ?? config.health.smokeUrl,
      pages: [...config.health.smokePages],
      runConfig: config.health.smokeRunConfig,
      skip: config.health.skipSmoke,
    },
    sitePrefix: config.site.sitePrefix,
    backup: { preDeploy: config.backup.preDeploy, schedule: config.backup.schedule, dir: layout.backups, keepCount: config.backup.keepCount, keepDays: config.backup.keepDays, drill: config.backup.drill },
    stopForRestore: usesDb.length > 0 ? usesDb : [config.compose.appService],
    deployUser: config.deploy.sshUser,
    runAs: { uid: config.runAs.uid, gid: config.runAs.gid },
    validate: {
      enabled: args.stack === PROMOTION_SOURCE,
      runConfigs: [...config.promotion.runConfigs],
      pages: [...config.promotion.pages],
      suites: [...config.promotion.suites],
      routes: [...config.promotion.routes],
      profiles: [...config.promotion.profiles],
      profileService: "profile-playback",
      host: config.site.domain,
    },
    soak: {
      seconds: soakSeconds(args.stack, config),
      intervalSeconds: config.promotion.soakIntervalSeconds,
      maxErrorPercent: config.promotion.maxErrorPercent,
      minRequests: config.promotion.minRequests,
      maxAppErrors: config.promotion.maxAppErrors,
      accessLog: soakAccessLog(args.stack, config, docs, Boolean(args.bluegreen)),
    },
    secretsByService: secretsByService(docs),
    bluegreen:
      args.bluegreen
        ? {
            markerDir: layout.markerDir,
            services: { ...BLUEGREEN.services },
            imageVariables: { ...BLUEGREEN.imageVariables },
            liveVariable: BLUEGREEN.liveVariable,
            caddyService: BLUEGREEN.caddyService,
            accessLog: accessLogPath(),
            warmSeconds: bg.warmSeconds,
            canary: [...bg.canary],
            analysis: {
              // health.monitoring off: the release is judged by its gate and smoke test alone.
              seconds: config.health.monitoring ? bg.analysis.seconds : 0,
              intervalSeconds: bg.analysis.intervalSeconds,
              maxErrorPercent: bg.analysis.maxErrorPercent,
              minRequests: bg.analysis.minRequests,
              stepSeconds: bg.analysis.stepSeconds,
            },
            otherServices: otherServices(args.bluegreen.composeDoc),
          }
        : null,
  };
}

/**
 * The environment's values over wepppy's defaults.env (spec: Environment-Specific
 * Configuration), without the image variables: the agent adds WEPPCLOUD_IMAGE (and on
 * blue/green each colour's image and the live colour) from what it decides on the host.
 */
export function envTemplateValues(config: StackConfig): Record<string, string> {
  // The schema refuses compose.env keys the stack owns (STACK_ENV_KEYS): these win regardless.
  return { ...config.compose.env, ...ownEnvValues(config) };
}

/**
 * The release's env template: wepppy's defaults.env (its text, "" when the release has none)
 * with the stack's values, and the app's port confined to the loopback where the validation
 * listener needs it. The agent adds the image variables (and an older layout's secrets) on the host.
 */
export function releaseEnvTemplate(config: StackConfig, docs: Json[], defaultsText: string): string {
  const listener = validationListener(config, docs);
  return renderEnvFile(defaultsText, { ...envTemplateValues(config), ...(listener ? confinedAppPort(docs, config.compose.appService, config.compose.env) : {}) });
}

/** The .env variables the stack itself owns. */
function ownEnvValues(config: StackConfig): Record<string, string> {
  return {
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
}

/**
 * The deploy request for an update: the image that must be live (null for a host build),
 * the staged release's key, the release record. Its JSON is the deploy command's stdin, and
 * its identity (requestId) is what makes a reconnect attach instead of deploying twice.
 */
export function renderDeployRequest(o: { image: string | null; releaseKey: string; release?: ReleaseRecord | null; hotfix?: string; skipSmoke?: boolean; who?: string }): DeployRequest {
  return {
    version: 1,
    action: "deploy",
    image: o.image,
    releaseKey: o.releaseKey,
    release: o.release ? JSON.parse(JSON.stringify(o.release)) : null,
    who: o.who ?? o.release?.actor ?? "pulumi",
    skipSmoke: o.skipSmoke ?? false,
    hotfix: o.hotfix ?? null,
  };
}
