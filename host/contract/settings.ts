import {
  ABSOLUTE_PATH,
  HOSTNAME,
  ARGV_WORD,
  ENV_NAME,
  ENV_SLUG,
  FILE_NAME,
  HTTP_URL,
  PROJECT_NAME,
  RELATIVE_PATH,
  Reader,
  SERVICE_NAME,
  UNIX_USER,
  URL_PATH,
  boolean,
  integer,
  list,
  literal,
  nullable,
  object,
  oneOf,
  optional,
  parseJsonText,
  readDocument,
  record,
  required,
  text,
} from "./check";
import { SUITES, Suite } from "./records";
import { Colour, isCanaryPercent } from "./traffic";

/*
 * The host's settings: one typed document, deploy.json, written by the stack (each
 * release stages its own, see staging.ts) and validated by the agent when it reads it.
 * Defaults live here and only here; a key the agent does not know is an error, so that
 * a typo never turns into a silent default. It replaces deploy.conf: every key that file
 * had is here (its dead RELEASE_NOTE is not), under a structured name.
 */

export const COMPOSE_COMMANDS = ["docker compose", "docker-compose"] as const;
export type ComposeCommand = (typeof COMPOSE_COMMANDS)[number];

export interface BlueGreenSettings {
  /** BG_MARKER_DIR: the host directory holding the traffic marker (Caddy mounts it read-only). */
  markerDir: string;
  /** BG_BLUE_SERVICE / BG_GREEN_SERVICE. */
  services: Record<Colour, string>;
  /** BG_BLUE_VAR / BG_GREEN_VAR: compose variables holding each colour's image (the agent writes them). */
  imageVariables: Record<Colour, string>;
  /** BG_LIVE_VAR: written to the env file with the colour that serves, for operators and the app. */
  liveVariable: string;
  /** BG_CADDY_SERVICE. */
  caddyService: string;
  /** BG_ACCESS_LOG: Caddy's JSON access log, as a path inside the Caddy container. */
  accessLog: string;
  /** BG_WARM_SECONDS: how long the previous colour stays up after a release (a rollback is a switch until then). */
  warmSeconds: number;
  /** BG_CANARY: canary percentages walked before all traffic moves; empty: switch at once. */
  canary: number[];
  analysis: {
    /** BG_ANALYSIS_SECONDS: the window after the switch; 0 judges a release by its gate and smoke test alone. */
    seconds: number;
    /** BG_ANALYSIS_INTERVAL. */
    intervalSeconds: number;
    /** BG_MAX_ERROR_PERCENT: 5xx share (of the new colour's requests) that switches back. */
    maxErrorPercent: number;
    /** BG_MIN_REQUESTS: requests needed before the share is judged. */
    minRequests: number;
    /** BG_STEP_SECONDS: analysis at each canary step. */
    stepSeconds: number;
  };
  /** BG_OTHER_SERVICES: services that follow a release after the switch (workers, browse, ...). */
  otherServices: string[];
}

export interface DeploySettings {
  version: 1;
  /** ENVIRONMENT: the stack (dev, testprod, prod). */
  environment: string;
  /** PROJECT_DIR: the compose project directory on the host. */
  projectDir: string;
  compose: {
    /** COMPOSE_COMMAND: v2 on wepppy's hosts, v1 where only that exists. */
    command: ComposeCommand;
    /** COMPOSE_FILES, in -f order, relative to projectDir. */
    files: string[];
    /** COMPOSE_PROJECT (-p). */
    project: string;
  };
  app: {
    /** APP_SERVICE: the one-colour app service (gate and candidate). */
    service: string;
    /** APP_PORT: where the app listens inside its container. */
    port: number;
    /** CANDIDATE: gate a new build beside the running one before replacing it. */
    candidate: boolean;
    /** The compose variable holding the image of the app and the services that run it (WEPPCLOUD_IMAGE). */
    imageVariable: string;
  };
  /** DB_SERVICE: the Postgres service, "" for none. */
  dbService: string;
  /** REDIS_SERVICE: "" for none. */
  redisService: string;
  health: {
    /** HEALTH_TRIES. */
    tries: number;
    /** HEALTH_INTERVAL. */
    intervalSeconds: number;
    /** HEALTH_REQUIRED: a failed gate fails the deploy (false: reported only). */
    required: boolean;
  };
  /** ROLLBACK. */
  rollback: "none" | "manual" | "automatic";
  /** LOCK_WAIT. */
  lockWaitSeconds: number;
  /** MIGRATE: argv run in a one-off container of the new image before `up`; empty for none. */
  migrate: string[];
  smoke: {
    /** SMOKE: the test-support API's create/fetch/delete, or pages fetched through Caddy. */
    mode: "pages" | "test-support";
    /** SMOKE_URL: where the host reaches Caddy. */
    url: string;
    /** Where the host reaches the test-support API: Caddy's validation listener on its loopback (render/caddyValidation.ts); empty: url. */
    testSupportUrl: string;
    /** SMOKE_PAGES. */
    pages: string[];
    /** SMOKE_RUN_CONFIG. */
    runConfig: string;
    /** SKIP_SMOKE. */
    skip: boolean;
  };
  /** SITE_PREFIX. */
  sitePrefix: string;
  backup: {
    /** BACKUP_PRE_DEPLOY. */
    preDeploy: boolean;
    /** BACKUP_SCHEDULE. */
    schedule: "none" | "daily" | "hourly";
    /** BACKUP_DIR. */
    dir: string;
    /** BACKUP_KEEP_COUNT. */
    keepCount: number;
    /** BACKUP_KEEP_DAYS. */
    keepDays: number;
    /** A restore drill after each scheduled backup (the dump restored into a scratch database and compared with the live one). */
    drill: boolean;
  };
  /** STOP_FOR_RESTORE: services stopped for a live restore; empty: the app service. */
  stopForRestore: string[];
  /** DEPLOY_USER: runs scheduled backups. */
  deployUser: string;
  /** The UID and GID the services run as (wepppy's UID/GID); secret files are owned by them. */
  runAs: { uid: number; gid: number };
  validate: {
    /** VALIDATE: run the functional validation after each successful deploy (testprod). */
    enabled: boolean;
    /** VALIDATE_RUN_CONFIGS; empty: smoke.runConfig. */
    runConfigs: string[];
    /** VALIDATE_PAGES; empty: smoke.pages. */
    pages: string[];
    /** The suites run, each recorded as evidence (promotion.suites). */
    suites: Suite[];
    /** The routes suite: service APIs fetched through Caddy besides the pages (status, preflight, rq-engine, ...). */
    routes: string[];
    /** The profile-playback suite: profiles replayed by the profile-playback service (e.g. quick). */
    profiles: string[];
    /** The compose service that replays profiles, reached through Caddy at /profile-playback. */
    profileService: string;
    /** The Host header every validation request carries (the site's domain), "" for none. */
    host: string;
  };
  /**
   * The soak after a successful deploy that changed the live image (testprod): samples every
   * intervalSeconds for seconds, by a detached agent run, and one soak record with a verdict.
   */
  soak: {
    /** 0: no soak. */
    seconds: number;
    intervalSeconds: number;
    /** 5xx share of Caddy's requests during the soak that fails it. */
    maxErrorPercent: number;
    /** Requests needed before the 5xx share is judged. */
    minRequests: number;
    /** Error keys (*:error:*) the app may add in Redis during the soak. */
    maxAppErrors: number;
    /** Caddy's JSON access log: the service and the file inside its container; null when Caddy keeps none. */
    accessLog: { service: string; path: string } | null;
  };
  /**
   * Which compose service mounts which secret files (paths relative to projectDir): a secret
   * rewritten in place reaches a running container only when it is recreated.
   */
  secretsByService: Record<string, string[]>;
  /** BLUEGREEN: null for a one-colour environment. */
  bluegreen: BlueGreenSettings | null;
}

const path = text(ABSOLUTE_PATH, "an absolute path of plain segments ([A-Za-z0-9._-], no '..')");
const service = text(SERVICE_NAME, "a compose service name ([a-zA-Z0-9_.-])");
const services = list(service, { unique: true });
const urlPath = text(URL_PATH, "a URL path starting with /");
const fileName = text(FILE_NAME, "a file name ([A-Za-z0-9._-])");
const envName = text(ENV_NAME, "a variable name ([A-Za-z_][A-Za-z0-9_]*)");
const canaryPercent: Reader<number> = (v, p, pr) => {
  if (isCanaryPercent(v)) return v;
  pr.add(p, `expected a whole number 5-95, a multiple of 5, got ${JSON.stringify(v)}`);
  return undefined;
};
const risingPercents: Reader<number[]> = (v, p, pr) => {
  const xs = list(canaryPercent, { max: 5 })(v, p, pr);
  if (xs && !xs.every((x, i) => i === 0 || x > xs[i - 1])) {
    pr.add(p, "expected rising percentages");
    return undefined;
  }
  return xs;
};

/** Every default of the host settings, in one place. */
export const SETTINGS_DEFAULTS = {
  appPort: 8000,
  candidate: true,
  imageVariable: "WEPPCLOUD_IMAGE",
  dbService: "postgres",
  redisService: "redis",
  health: { tries: 30, intervalSeconds: 10, required: true },
  rollback: "manual",
  lockWaitSeconds: 0,
  smoke: { mode: "pages", url: "http://127.0.0.1:8080", testSupportUrl: "", pages: ["/weppcloud/"], runConfig: "dev_unit_1", skip: false },
  sitePrefix: "/weppcloud",
  backup: { preDeploy: false, schedule: "none", keepCount: 48, keepDays: 7, drill: true },
  validate: { suites: ["create-run", "routes"] as Suite[], profileService: "profile-playback" },
  soak: { seconds: 0, intervalSeconds: 60, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50 },
  deployUser: "roger",
  bluegreen: {
    liveVariable: "WEPPCLOUD_LIVE_COLOUR",
    warmSeconds: 1800,
    analysis: { seconds: 600, intervalSeconds: 2, maxErrorPercent: 5, minRequests: 20, stepSeconds: 60 },
  },
} as const;

const D = SETTINGS_DEFAULTS;

const colourServices = object<Record<Colour, string>>({ blue: required(service), green: required(service) });
const colourVariables = object<Record<Colour, string>>({ blue: required(envName), green: required(envName) });

const readBlueGreen = object<BlueGreenSettings>({
  markerDir: required(path),
  services: required(colourServices),
  imageVariables: required(colourVariables),
  liveVariable: optional(envName, D.bluegreen.liveVariable),
  caddyService: required(service),
  accessLog: required(path),
  warmSeconds: optional(integer(0, 7 * 86400), D.bluegreen.warmSeconds),
  canary: optional(risingPercents, []),
  analysis: optional(
    object<BlueGreenSettings["analysis"]>({
      seconds: optional(integer(0, 3600), D.bluegreen.analysis.seconds),
      intervalSeconds: optional(integer(1, 60), D.bluegreen.analysis.intervalSeconds),
      maxErrorPercent: optional(integer(0, 100), D.bluegreen.analysis.maxErrorPercent),
      minRequests: optional(integer(1, 1_000_000), D.bluegreen.analysis.minRequests),
      stepSeconds: optional(integer(0, 3600), D.bluegreen.analysis.stepSeconds),
    }),
    { ...D.bluegreen.analysis },
  ),
  otherServices: optional(services, []),
});

const readSettings = object<DeploySettings>({
  version: required(literal(1)),
  environment: required(text(ENV_SLUG, "an environment name ([a-z][a-z0-9-])")),
  projectDir: required(path),
  compose: required(
    object<DeploySettings["compose"]>({
      command: required(oneOf(COMPOSE_COMMANDS)),
      files: required(list(text(RELATIVE_PATH, "a relative path of plain segments"), { min: 1, unique: true })),
      project: required(text(PROJECT_NAME, "a compose project name ([a-z0-9_-])")),
    }),
  ),
  app: required(
    object<DeploySettings["app"]>({
      service: required(service),
      port: optional(integer(1, 65535), D.appPort),
      candidate: optional(boolean, D.candidate),
      imageVariable: optional(envName, D.imageVariable),
    }),
  ),
  dbService: optional((v, p, pr) => (v === "" ? "" : service(v, p, pr)), D.dbService),
  redisService: optional((v, p, pr) => (v === "" ? "" : service(v, p, pr)), D.redisService),
  health: optional(
    object<DeploySettings["health"]>({
      tries: optional(integer(1, 1000), D.health.tries),
      intervalSeconds: optional(integer(1, 600), D.health.intervalSeconds),
      required: optional(boolean, D.health.required),
    }),
    { ...D.health },
  ),
  rollback: optional(oneOf(["none", "manual", "automatic"] as const), D.rollback),
  lockWaitSeconds: optional(integer(0, 3600), D.lockWaitSeconds),
  migrate: optional(list(text(ARGV_WORD, "a command word ([A-Za-z0-9._/:=@+,-])"), { max: 32 }), []),
  smoke: optional(
    object<DeploySettings["smoke"]>({
      mode: optional(oneOf(["pages", "test-support"] as const), D.smoke.mode),
      url: optional(text(HTTP_URL, "an http(s) URL without query or credentials"), D.smoke.url),
      // Absent in a release staged before the validation listener: the API is reached where the pages are.
      testSupportUrl: optional((v, p, pr) => (v === "" ? "" : text(HTTP_URL, "an http(s) URL without query or credentials")(v, p, pr)), ""),
      pages: optional(list(urlPath, { min: 1 }), [...D.smoke.pages]),
      runConfig: optional(fileName, D.smoke.runConfig),
      skip: optional(boolean, D.smoke.skip),
    }),
    { ...D.smoke, pages: [...D.smoke.pages] },
  ),
  sitePrefix: optional(urlPath, D.sitePrefix),
  backup: required(
    object<DeploySettings["backup"]>({
      preDeploy: optional(boolean, D.backup.preDeploy),
      schedule: optional(oneOf(["none", "daily", "hourly"] as const), D.backup.schedule),
      // No default: it is a host path the stack derives from the layout.
      dir: required(path),
      keepCount: optional(integer(1, 10000), D.backup.keepCount),
      keepDays: optional(integer(1, 3650), D.backup.keepDays),
      drill: optional(boolean, D.backup.drill),
    }),
  ),
  stopForRestore: optional(services, []),
  deployUser: optional(text(UNIX_USER, "a Unix user name"), D.deployUser),
  runAs: required(object<DeploySettings["runAs"]>({ uid: required(integer(0, 2 ** 31 - 1)), gid: required(integer(0, 2 ** 31 - 1)) })),
  validate: optional(
    object<DeploySettings["validate"]>({
      enabled: optional(boolean, false),
      runConfigs: optional(list(fileName), []),
      pages: optional(list(urlPath), []),
      suites: optional(list(oneOf(SUITES), { unique: true }), [...D.validate.suites]),
      routes: optional(list(urlPath), []),
      profiles: optional(list(fileName), []),
      profileService: optional(service, D.validate.profileService),
      host: optional((v, p, pr) => (v === "" ? "" : text(HOSTNAME, "a hostname")(v, p, pr)), ""),
    }),
    { enabled: false, runConfigs: [], pages: [], suites: [...D.validate.suites], routes: [], profiles: [], profileService: D.validate.profileService, host: "" },
  ),
  soak: optional(
    object<DeploySettings["soak"]>({
      seconds: optional(integer(0, 30 * 86400), D.soak.seconds),
      intervalSeconds: optional(integer(1, 3600), D.soak.intervalSeconds),
      maxErrorPercent: optional(integer(0, 100), D.soak.maxErrorPercent),
      minRequests: optional(integer(1, 1_000_000), D.soak.minRequests),
      maxAppErrors: optional(integer(0, 1_000_000), D.soak.maxAppErrors),
      accessLog: optional(nullable(object<{ service: string; path: string }>({ service: required(service), path: required(path) })), null),
    }),
    { ...D.soak, accessLog: null },
  ),
  secretsByService: optional(record(SERVICE_NAME, "a compose service name", list(text(RELATIVE_PATH, "a path relative to the project directory"))), {}),
  bluegreen: optional(nullable(readBlueGreen), null),
});

/** Validates a parsed deploy.json; throws a DocumentError naming every bad key. */
export function parseDeploySettings(value: unknown, source = "deploy.json"): DeploySettings {
  return readDocument(readSettings, value, source, (s, problems) => {
    const bg = s.bluegreen;
    if (bg && bg.services.blue === bg.services.green) problems.add("bluegreen.services", "expected two different services");
    if (bg && bg.imageVariables.blue === bg.imageVariables.green) problems.add("bluegreen.imageVariables", "expected two different variables");
  });
}

export function readDeploySettingsText(textValue: string, source = "deploy.json"): DeploySettings {
  return parseDeploySettings(parseJsonText(textValue, source), source);
}

/** deploy.json's text: stable key order (the type's), two-space indent, one trailing newline. */
export function serializeDeploySettings(settings: DeploySettings): string {
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/** The services a restore stops: the configured ones, or the app. */
export function restoreStops(settings: DeploySettings): string[] {
  return settings.stopForRestore.length > 0 ? settings.stopForRestore : [settings.app.service];
}
