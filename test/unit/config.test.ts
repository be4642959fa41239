import { strict as assert } from "node:assert";
import { NAMESPACE, STACKS } from "../../config/environments";
import { StackConfigError, parseStackConfig } from "../../config/load";
import { rawConfigFromYaml, SECURE_PLACEHOLDER } from "../../config/stackFile";
import { evaluateStack, ResourceRequest } from "../../harness/evaluate";
import { ProjectStackFile } from "../../harness/engine/projectStack";
import { registryAnswer, stackConfig } from "./helpers";

function problemsOf(stack: string, overrides: Record<string, unknown>, secretKeys: string[] = []): string[] {
  const raw = stackConfig(stack, overrides);
  try {
    parseStackConfig(stack, raw.values, { secretKeys: [...raw.secretKeys, ...secretKeys] });
  } catch (err) {
    assert.ok(err instanceof StackConfigError, `expected a StackConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail(`config with ${JSON.stringify(overrides)} was accepted`);
}

describe("stack config schema", () => {
  for (const stack of STACKS) {
    it(`accepts Pulumi.${stack}.yaml as it is`, () => {
      const raw = stackConfig(stack);
      const config = parseStackConfig(stack, raw.values);
      assert.ok(config.deploy.host.length > 0);
    });
  }

  it("has prod walk a first canary step of at most 10 % before all traffic moves", () => {
    // bench switch: at 100 % a 5xx release hurts about 1 % of the minute around it; a tenth of that at 10 %.
    const { bluegreen } = parseStackConfig("prod", stackConfig("prod").values);
    assert.ok(bluegreen.enabled && bluegreen.canary.length > 0 && bluegreen.canary[0] <= 10, `prod's canary steps: ${JSON.stringify(bluegreen.canary)}`);
    assert.ok(bluegreen.analysis.stepSeconds > 0);
  });

  it("applies defaults that the stack files leave out", () => {
    const config = parseStackConfig("testprod", stackConfig("testprod").values);
    assert.equal(config.deploy.sshPort, 22);
    assert.equal(config.compose.command, "docker compose");
    assert.equal(config.compose.projectDir, "/opt/wepppy/docker");
  });

  it("names the file and key of a hostile host, as the operator will read it", () => {
    const problems = problemsOf("prod", { "deploy.host": "wepp1; rm -rf /" });
    assert.deepEqual(problems, [`Pulumi.prod.yaml: ${NAMESPACE}:deploy.host: expected a hostname, got "wepp1; rm -rf /"`]);
  });

  const hostile: Array<[string, unknown, RegExp]> = [
    ["deploy.host", "$(reboot)", /deploy\.host: expected a hostname/],
    ["deploy.host", "forest1 -oProxyCommand=x", /deploy\.host: expected a hostname/],
    ["deploy.address", "10.0.0.1`id`", /deploy\.address: expected a hostname or IPv4 address/],
    ["deploy.sshUser", "root -o ProxyCommand=sh", /deploy\.sshUser: expected a Unix user name/],
    ["deploy.hostKey", "ssh-ed25519 AAAA\ncommand=\"sh\" ssh-rsa AAAA", /deploy\.hostKey: expected an SSH public host key line/],
    ["site.domain", "wepp.cloud && curl x", /site\.domain: expected a hostname/],
    ["site.sitePrefix", "/weppcloud;id", /site\.sitePrefix: expected a URL path/],
    ["compose.projectDir", "/opt/wepppy/../../etc", /compose\.projectDir: expected an absolute path/],
    ["compose.projectDir", "/opt/wep ppy", /compose\.projectDir: expected an absolute path/],
    ["compose.projectDir", "opt/wepppy", /compose\.projectDir: expected an absolute path/],
    ["compose.sourceDir", "../$(id)/docker", /compose\.sourceDir: expected a local path/],
    ["compose.files", ["docker-compose.prod.yml; id"], /compose\.files\.0: expected a file name/],
    ["compose.files", ["../docker-compose.prod.yml"], /compose\.files\.0: expected a file name/],
    ["compose.appService", "weppcloud && id", /compose\.appService: expected a compose service name/],
    ["compose.projectName", "wepppy|x", /compose\.projectName: expected a compose service name/],
    ["image.tag", "sha-05ffcab; rm -rf /", /image\.tag: expected a commit tag/],
    ["image.tag", "latest", /image\.tag: expected a commit tag/],
    ["image.repository", "ghcr.io/RogerLew/wepppy", /image\.repository: expected an image repository/],
    ["health.smokePages", ["/weppcloud/ $(id)"], /health\.smokePages\.0: expected a URL path/],
  ];
  for (const [key, value, expected] of hostile) {
    it(`refuses ${key} = ${JSON.stringify(value)}`, () => {
      const stack = key.startsWith("image.") ? "testprod" : "prod";
      const problems = problemsOf(stack, { [key]: value });
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], new RegExp(`^Pulumi\\.${stack}\\.yaml: ${NAMESPACE}:`));
      assert.match(problems[0], expected);
      assert.ok(problems[0].includes(`got ${JSON.stringify(value instanceof Array ? value[0] : value)}`), problems[0]);
    });
  }

  it("reports a wrong type with what was expected and what was found", () => {
    const problems = problemsOf("testprod", { "deploy.sshPort": "22" });
    assert.deepEqual(problems, [`Pulumi.testprod.yaml: ${NAMESPACE}:deploy.sshPort: expected a port number 1-65535, got "22"`]);
  });

  it("reports a missing required key", () => {
    const raw = stackConfig("dev");
    const deploy = JSON.parse(raw.values[`${NAMESPACE}:deploy`]);
    delete deploy.host;
    raw.values[`${NAMESPACE}:deploy`] = JSON.stringify(deploy);
    assert.throws(() => parseStackConfig("dev", raw.values), (err: StackConfigError) => {
      assert.deepEqual(err.problems, [`Pulumi.dev.yaml: ${NAMESPACE}:deploy.host: missing, expected a hostname`]);
      return true;
    });
  });

  it("reports a missing section", () => {
    const raw = stackConfig("dev");
    delete raw.values[`${NAMESPACE}:backup`];
    assert.throws(() => parseStackConfig("dev", raw.values), /Pulumi\.dev\.yaml: wepppy-cicd:backup: missing/);
  });

  it("reports unknown keys, so a typo is not silently ignored", () => {
    const problems = problemsOf("dev", { "deploy.hots": "forest", hosts: "x" });
    assert.ok(problems.includes(`Pulumi.dev.yaml: ${NAMESPACE}:deploy.hots: unknown key`), problems.join("\n"));
    assert.ok(problems.some((p) => p.startsWith(`Pulumi.dev.yaml: ${NAMESPACE}:hosts: unknown key (known sections: deploy,`)), problems.join("\n"));
  });

  it("reports every bad key at once", () => {
    const problems = problemsOf("testprod", { "deploy.host": "a b", "site.domain": "$x", "backup.schedule": "weekly" });
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.match(problems.join("\n"), /backup\.schedule: expected one of "none", "daily", "hourly", got "weekly"/);
  });

  it("refuses a prod stack that would run an image testprod never ran", () => {
    const problems = problemsOf("prod", { image: { source: "registry", tag: "sha-05ffcab3d7fa" } });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /image\.source: expected "promoted" for the prod stack/);
  });

  it("refuses automatic rollback without a required health gate", () => {
    const problems = problemsOf("prod", { "health.required": false });
    assert.match(problems.join("\n"), /health\.required: expected true when deploy\.rollback is "automatic"/);
  });

  it("refuses compose files that are not in the source directory", () => {
    const problems = problemsOf("testprod", { "compose.files": ["docker-compose.missing.yml"] });
    assert.match(problems[0], /compose\.files\.0: expected a file in .*, got "docker-compose\.missing\.yml"/);
  });

  it("refuses an unknown stack name", () => {
    assert.throws(() => parseStackConfig("staging", stackConfig("dev").values), /stack "staging" is not one of dev, testprod, prod/);
  });

  it("never echoes a secret value in an error", () => {
    const problems = problemsOf("dev", { secrets: { "bad name!": "hunter2-secret-value", cap_secret: 42 } });
    assert.ok(problems.length >= 2, problems.join("\n"));
    for (const p of problems) assert.ok(!p.includes("hunter2") && !p.includes("42"), p);
  });

  it("never echoes a deploy key or registry credentials in an error", () => {
    const problems = problemsOf("testprod", {
      deployKey: "not-a-key hunter2-deploy-key",
      registry: { username: "roger lew", password: "hunter2-registry-token" },
    });
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems.join("\n"), /wepppy-cicd:deployKey: expected an OpenSSH private key/);
    assert.match(problems.join("\n"), /wepppy-cicd:registry\.username: expected a Unix user name/);
    for (const p of problems) assert.ok(!p.includes("hunter2") && !p.includes("roger lew"), p);
  });

  it("never echoes the value of a key Pulumi holds as secret", () => {
    const problems = problemsOf("dev", { "deploy.host": "s3cr3t;value" }, [`${NAMESPACE}:deploy`]);
    assert.equal(problems.length, 1);
    assert.ok(!problems[0].includes("s3cr3t"), problems[0]);
    assert.match(problems[0], /deploy\.host: expected a hostname$/);
  });

  it("reads values set with --secret as secret placeholders", () => {
    const raw = rawConfigFromYaml(
      "config:\n  wepppy-cicd:secrets:\n    cap_secret:\n      secure: v1:abc\n  wepppy-cicd:site:\n    domain: wepp.cloud\n",
      "Pulumi.x.yaml",
    );
    assert.deepEqual(raw.secretKeys, [`${NAMESPACE}:secrets`]);
    assert.deepEqual(JSON.parse(raw.values[`${NAMESPACE}:secrets`]), { cap_secret: SECURE_PLACEHOLDER });
  });
});

describe("a malformed stack file under the mock engine", () => {
  for (const [what, overrides] of [
    ["wrong type", { "deploy.auto": "yes" }],
    ["missing key", { "features.DEBUG": undefined }],
    ["hostile value", { "deploy.host": "wepp1; rm -rf /" }],
  ] as const) {
    it(`fails on a ${what} before any resource is registered`, async () => {
      const created: ResourceRequest[] = [];
      const config = stackConfig("prod", overrides);
      await assert.rejects(
        evaluateStack({
          stack: "prod",
          config,
          invoke: registryAnswer,
          stackOutputs: { testprod: { imageRef: "r@sha256:0", imageDigest: "sha256:0" } },
          create: async (r) => {
            created.push(r);
            return { state: r.inputs };
          },
        }),
        (err: Error) => {
          assert.ok(err instanceof StackConfigError, String(err));
          assert.match(err.message, /^Pulumi\.prod\.yaml: wepppy-cicd:(deploy|features)\./);
          return true;
        },
      );
      assert.deepEqual(created, []);
    });
  }

  it("does register resources for the same stack file when it is valid (the check above can fail)", async () => {
    const created: ResourceRequest[] = [];
    await evaluateStack({
      stack: "prod",
      config: stackConfig("prod"),
      invoke: registryAnswer,
      stackOutputs: { testprod: { imageRef: "r@sha256:0", imageDigest: "sha256:0" } },
      create: async (r) => {
        created.push(r);
        return { state: r.inputs };
      },
    });
    assert.ok(created.length > 0);
  });
});

describe("config: hours set with pulumi config set --path", () => {
  it("reads a decimal string as its number (--path types only integers and booleans), and still refuses words and negatives", () => {
    const file = new ProjectStackFile(undefined, { text: "config: {}\n", crypter: { salt: "memory", encrypt: (p) => p, decrypt: (c) => c } });
    file.set("wepppy-cicd:promotion.soakHours", { value: "0.5" }, true);
    const stored = file.all()["wepppy-cicd:promotion"].value;
    assert.equal(JSON.parse(stored).soakHours, "0.5", "the CLI's typing: a float stays a string");
    const raw = stackConfig("testprod");
    const parse = (promotion: string) => parseStackConfig("testprod", { ...raw.values, "wepppy-cicd:promotion": promotion }, { secretKeys: raw.secretKeys });
    assert.equal(parse(stored).promotion.soakHours, 0.5);
    assert.throws(() => parse(JSON.stringify({ soakHours: "half" })), /promotion\.soakHours: expected a number of hours/);
    assert.throws(() => parse(JSON.stringify({ soakHours: "-1" })), /promotion\.soakHours: expected a number of hours/);
  });
});
