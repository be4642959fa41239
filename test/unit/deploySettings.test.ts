import { strict as assert } from "node:assert";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { StackName } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { STACK_ENV_KEYS } from "../../config/schema";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { BLUEGREEN_COMPOSE_FILE } from "../../program/components/composeDeployment";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { blueGreenFiles } from "../../render/bluegreen/files";
import { readComposeDocument } from "../../render/composeFile";
import { envTemplateValues, renderDeploySettings, secretsByService } from "../../render/deploySettings";
import { parseDeploySettings, serializeDeploySettings } from "../../host/contract/settings";
import { stackConfig } from "./helpers";

/*
 * deploy.json, the host settings the stack renders for the agent: what the stack renders is
 * what the agent accepts, with the stack config's values.
 */


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
    it(`renders settings the agent reads back unchanged: ${name}`, () => {
      const args = inputs(stack, overrides);
      const settings = renderDeploySettings(args);
      assert.deepEqual(parseDeploySettings(JSON.parse(serializeDeploySettings(settings))), settings, "the agent reads what the stack renders");
      assert.equal(settings.environment, stack);
      assert.equal(settings.compose.project, args.config.compose.projectName);
      assert.equal(settings.health.tries, args.config.health.tries);
      assert.equal(settings.bluegreen !== null, args.config.bluegreen.enabled);
      if (settings.bluegreen) assert.deepEqual(settings.bluegreen.canary, args.config.bluegreen.canary);
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

describe("the env template: compose.env beside the stack's own variables", () => {
  const parse = (env?: Record<string, string>) => {
    const raw = stackConfig("testprod", env ? { "compose.env": env } : {});
    return parseStackConfig("testprod", raw.values, { secretKeys: raw.secretKeys });
  };

  it("adds compose.env's variables, and the stack's own keys are exactly STACK_ENV_KEYS", () => {
    assert.equal(envTemplateValues(parse({ CAP_SITE_KEY: "site-key-1" })).CAP_SITE_KEY, "site-key-1");
    assert.deepEqual(Object.keys(envTemplateValues(parse())).sort(), [...STACK_ENV_KEYS].sort());
  });

  it("refuses compose.env setting a variable the stack writes, or a value the env file cannot keep, naming the key", () => {
    assert.throws(() => parse({ UID: "0" }), /wepppy-cicd:compose\.env: expected none of the variables the stack writes itself/);
    assert.throws(() => parse({ CAP_SITE_KEY: "a b" }), /wepppy-cicd:compose\.env\.CAP_SITE_KEY: expected printable characters without spaces/);
    assert.throws(() => parse({ CAP_SITE_KEY: "$(x)" }), /compose\.env\.CAP_SITE_KEY: expected no quote/);
  });
});
