import { strict as assert } from "node:assert";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { StackName } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { BLUEGREEN_COMPOSE_FILE, deployConf } from "../../program/components/composeDeployment";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { blueGreenFiles } from "../../render/bluegreen/files";
import { readComposeDocument } from "../../render/composeFile";
import { envTemplateValues, renderDeploySettings, secretsByService } from "../../render/deploySettings";
import { DeploySettings, parseDeploySettings, serializeDeploySettings } from "../../host/contract/settings";
import { stackConfig } from "./helpers";

/*
 * deploy.json replaces deploy.conf: every key the bash script was given is in the typed
 * settings, with the same value, for every stack (a key added to one side and not the
 * other fails here), and what the stack renders is what the agent accepts.
 */

const WORDS = (xs: string[]) => xs.join(" ");

/** Each deploy.conf key and where its value lives in DeploySettings. */
const CARRIED: Record<string, (s: DeploySettings) => string | number | boolean> = {
  ENVIRONMENT: (s) => s.environment,
  PROJECT_DIR: (s) => s.projectDir,
  COMPOSE_COMMAND: (s) => s.compose.command,
  COMPOSE_FILES: (s) => WORDS(s.compose.files),
  COMPOSE_PROJECT: (s) => s.compose.project,
  APP_SERVICE: (s) => s.app.service,
  APP_PORT: (s) => s.app.port,
  CANDIDATE: (s) => s.app.candidate,
  DB_SERVICE: (s) => s.dbService,
  REDIS_SERVICE: (s) => s.redisService,
  HEALTH_TRIES: (s) => s.health.tries,
  HEALTH_INTERVAL: (s) => s.health.intervalSeconds,
  HEALTH_REQUIRED: (s) => s.health.required,
  ROLLBACK: (s) => s.rollback,
  LOCK_WAIT: (s) => s.lockWaitSeconds,
  MIGRATE: (s) => WORDS(s.migrate),
  SMOKE: (s) => s.smoke.mode,
  SMOKE_URL: (s) => s.smoke.url,
  SMOKE_PAGES: (s) => WORDS(s.smoke.pages),
  SMOKE_RUN_CONFIG: (s) => s.smoke.runConfig,
  SKIP_SMOKE: (s) => s.smoke.skip,
  SITE_PREFIX: (s) => s.sitePrefix,
  BACKUP_PRE_DEPLOY: (s) => s.backup.preDeploy,
  BACKUP_SCHEDULE: (s) => s.backup.schedule,
  BACKUP_DIR: (s) => s.backup.dir,
  BACKUP_KEEP_COUNT: (s) => s.backup.keepCount,
  BACKUP_KEEP_DAYS: (s) => s.backup.keepDays,
  STOP_FOR_RESTORE: (s) => WORDS(s.stopForRestore),
  DEPLOY_USER: (s) => s.deployUser,
  VALIDATE: (s) => s.validate.enabled,
  VALIDATE_RUN_CONFIGS: (s) => WORDS(s.validate.runConfigs),
  VALIDATE_PAGES: (s) => WORDS(s.validate.pages),
  BLUEGREEN: (s) => s.bluegreen !== null,
  BG_MARKER_DIR: (s) => s.bluegreen!.markerDir,
  BG_BLUE_SERVICE: (s) => s.bluegreen!.services.blue,
  BG_GREEN_SERVICE: (s) => s.bluegreen!.services.green,
  BG_BLUE_VAR: (s) => s.bluegreen!.imageVariables.blue,
  BG_GREEN_VAR: (s) => s.bluegreen!.imageVariables.green,
  BG_LIVE_VAR: (s) => s.bluegreen!.liveVariable,
  BG_CADDY_SERVICE: (s) => s.bluegreen!.caddyService,
  BG_ACCESS_LOG: (s) => s.bluegreen!.accessLog,
  BG_WARM_SECONDS: (s) => s.bluegreen!.warmSeconds,
  BG_CANARY: (s) => WORDS(s.bluegreen!.canary.map(String)),
  BG_ANALYSIS_SECONDS: (s) => s.bluegreen!.analysis.seconds,
  BG_ANALYSIS_INTERVAL: (s) => s.bluegreen!.analysis.intervalSeconds,
  BG_MAX_ERROR_PERCENT: (s) => s.bluegreen!.analysis.maxErrorPercent,
  BG_MIN_REQUESTS: (s) => s.bluegreen!.analysis.minRequests,
  BG_STEP_SECONDS: (s) => s.bluegreen!.analysis.stepSeconds,
  BG_OTHER_SERVICES: (s) => WORDS(s.bluegreen!.otherServices),
};

function inputs(stack: StackName, overrides: Record<string, unknown> = {}) {
  const raw = stackConfig(stack, overrides);
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });
  const composeDocs = config.compose.files.map((f) => readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, f)));
  // The transformation's warnings (tested where it is) would only fill this test's output.
  const warn = pulumi.log.warn;
  pulumi.log.warn = async () => undefined;
  try {
    const bluegreen = config.bluegreen.enabled ? blueGreenFiles(config, WEPPPY_REFERENCE_DIR, composeDocs[0]) : undefined;
    return { stack, config, composeDocs, bluegreen };
  } finally {
    pulumi.log.warn = warn;
  }
}

describe("deploy settings (deploy.json) rendered by the stack", () => {
  const cases: Array<[string, StackName, Record<string, unknown>]> = [
    ["testprod", "testprod", {}],
    ["prod (blue/green)", "prod", { "bluegreen.canary": [10, 50] }],
    ["testprod with blue/green", "testprod", { "bluegreen.enabled": true }],
  ];
  for (const [name, stack, overrides] of cases) {
    it(`carries every deploy.conf key with its value: ${name}`, () => {
      const args = inputs(stack, overrides);
      // deployConf reads only the generated compose document of the blue/green files.
      const conf = deployConf(args as Parameters<typeof deployConf>[0]);
      const settings = renderDeploySettings(args);
      const missing = Object.keys(conf).filter((k) => !(k in CARRIED));
      assert.deepEqual(missing, [], "deploy.conf keys with no place in deploy.json");
      for (const [key, value] of Object.entries(conf)) assert.equal(String(CARRIED[key](settings)), String(value), key);
      assert.deepEqual(parseDeploySettings(JSON.parse(serializeDeploySettings(settings))), settings, "the agent reads what the stack renders");
    });
  }

  it("says which services mount which secret files, following compose's anchors and merge keys", () => {
    const { composeDocs, bluegreen } = inputs("prod");
    const one = secretsByService(composeDocs);
    assert.ok(one.weppcloud.includes("secrets/postgres_password") && one.weppcloud.includes("secrets/redis_password"), JSON.stringify(one.weppcloud));
    assert.ok(Object.values(one).every((files) => files.every((f) => f.startsWith("secrets/"))), "a /dev/null default is not a secret file of the stack");
    assert.ok(one["rq-worker"]?.includes("secrets/redis_password"), "inherited through <<: *wepppy-service");
    const bg = secretsByService([bluegreen!.composeDoc]);
    assert.deepEqual(bg[BLUEGREEN.services.blue], bg[BLUEGREEN.services.green]);
    assert.equal(bg.weppcloud, undefined);
  });

  it("names the generated compose file in one place", () => {
    assert.equal(BLUEGREEN.composeFile, BLUEGREEN_COMPOSE_FILE);
  });

  it("the env template has no image variable: the host decides them", () => {
    const keys = Object.keys(envTemplateValues(inputs("prod").config));
    assert.ok(!keys.some((k) => /IMAGE|COLOUR/.test(k)), keys.join(" "));
  });
});
