import { strict as assert } from "node:assert";
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { PROJECT_ROOT } from "../../config/paths";
import { GATES } from "../../policy/gates";
import { GraphStack } from "../../policy/offline";
import { deployableConfig } from "./helpers";
import { RealStack, graphOf, inside, realStacks, resource } from "./policyFixtures";

/*
 * The pack directory as `pulumi preview --policy-pack policy` loads it: Pulumi's own
 * policy-pack runner (@pulumi/pulumi/cmd/run-policy-pack, ts-node, cwd policy/) serves
 * the analyzer protocol, and this test plays the engine: it asks for the pack's policies,
 * configures them, and sends a stack's resources as the engine sends them.
 */

/* eslint-disable @typescript-eslint/no-var-requires */
const rpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-var-requires */

const LEVELS = ["advisory", "mandatory", "disabled", "remediate"];

interface Diagnostic {
  policy: string;
  level: string;
  message: string;
  urn: string;
}

function struct(value: Record<string, unknown>) {
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(value)));
}

/** One resource as the engine sends it: properties in wire form (secrets still marked), options, provider. */
function analyzerResource(graph: GraphStack, r: GraphStack["resources"][number], properties: Record<string, unknown>) {
  const res = new pb.AnalyzerResource();
  res.setType(r.type);
  res.setName(r.name);
  res.setUrn(r.urn);
  res.setProperties(struct(properties));
  const opts = new pb.AnalyzerResourceOptions();
  opts.setAdditionalsecretoutputsList(r.additionalSecretOutputs);
  opts.setIgnorechangesList([]);
  opts.setAliasesList([]);
  if (r.parent) opts.setParent(r.parent);
  res.setOptions(opts);
  if (r.custom && !r.type.startsWith("pulumi:providers:")) {
    const provider = new pb.AnalyzerProviderResource();
    const type = `pulumi:providers:${r.type.split(":")[0]}`;
    provider.setType(type);
    provider.setName("default");
    provider.setUrn(`urn:pulumi:${graph.stack}::${graph.project}::${type}::default`);
    provider.setProperties(struct({}));
    res.setProvider(provider);
  }
  if (r.parent) res.setParent(r.parent);
  res.setDependenciesList(r.dependencies);
  return res;
}

function diagnostics(response: any): Diagnostic[] {
  return response.getDiagnosticsList().map((d: any) => ({
    policy: d.getPolicyname(),
    level: LEVELS[d.getEnforcementlevel()],
    message: d.getMessage(),
    urn: d.getUrn(),
  }));
}

describe("policy pack: loaded by Pulumi's policy-pack runner, over the analyzer protocol", function () {
  this.timeout(60000);
  let stacks: RealStack[];
  let runner: ChildProcess;
  let client: any;
  let stderr = "";
  const call = <T>(method: string, request: unknown): Promise<T> =>
    new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));

  before(async () => {
    // The engine hands the pack the stack's config as it hands it to a program (testprod's here).
    const config = deployableConfig("testprod");
    runner = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."], {
      cwd: path.join(PROJECT_ROOT, "policy"),
      env: {
        PATH: process.env.PATH ?? "",
        PULUMI_CONFIG: JSON.stringify(config.values),
        PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(config.secretKeys),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    runner.stderr!.on("data", (d) => (stderr += d));
    const serving = new Promise<string>((resolve, reject) => {
      runner.stdout!.once("data", (d) => resolve(String(d).trim()));
      runner.once("exit", (code) => reject(new Error(`the pack exited (${code}) before serving: ${stderr}`)));
    });
    serving.catch(() => undefined);
    // The stacks are evaluated while ts-node compiles the pack.
    stacks = await realStacks();
    const port = await serving;
    assert.match(port, /^\d+$/, `the runner printed ${port}, not a port`);
    client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client?.close();
    if (runner && runner.exitCode === null) runner.kill();
  });

  const stackRequest = (graph: GraphStack) => {
    const req = new pb.AnalyzeStackRequest();
    req.setResourcesList(graph.resources.map((r) => analyzerResource(graph, r, { ...r.state, ...r.wireInputs })));
    return req;
  };

  it("serves the pack wepppy-cicd-gates with its seven gates, each mandatory", async () => {
    const info: any = await call("getAnalyzerInfo", new Empty());
    assert.equal(info.getName(), "wepppy-cicd-gates");
    const policies = info.getPoliciesList().map((p: any) => [p.getName(), LEVELS[p.getEnforcementlevel()]]);
    assert.deepEqual(policies.map((p: string[]) => p[0]).sort(), Object.values(GATES).sort());
    for (const [name, level] of policies) assert.equal(level, "mandatory", name);
  });

  it("finds nothing in testprod as declared, and the prod gate's violation in a broken copy of prod", async () => {
    const testprod = graphOf(stacks.find((s) => s.stack === "testprod" && !s.preview)!);
    assert.deepEqual(diagnostics(await call("analyzeStack", stackRequest(testprod))), []);

    const prod = graphOf(stacks.find((s) => s.stack === "prod" && !s.preview)!);
    const deploy = resource(prod, "prod-compose-deploy");
    deploy.wireInputs.stdin = String(deploy.wireInputs.stdin).replace(/"image":"[^"]*"/, '"image":"ghcr.io/rogerlew/wepppy:latest"');
    const settings = resource(prod, "prod-compose-staged-deploy.json");
    const source = settings.wireInputs.source as { text: string };
    source.text = source.text.replace('"preDeploy": true', '"preDeploy": false');
    const found = diagnostics(await call("analyzeStack", stackRequest(prod)));
    // The settings come over the analyzer protocol as a text asset the gate reads.
    assert.deepEqual(found.map((d) => [d.policy, d.level, d.urn]), [
      [GATES.prodImage, "mandatory", deploy.urn],
      [GATES.prodImage, "mandatory", settings.urn],
    ]);
    assert.match(found[0].message, /"ghcr\.io\/rogerlew\/wepppy:latest", which is not pinned to a digest/);
    assert.match(found[1].message, /stages backup\.preDeploy: false/);
  });

  it("reads the stack's secret config from the engine's environment (the only place testprod's registry token is known)", async () => {
    const testprod = graphOf(stacks.find((s) => s.stack === "testprod" && !s.preview)!);
    const login = resource(testprod, "testprod-compose-registry-login");
    login.additionalSecretOutputs = ["connection"];
    login.wireInputs.stdin = inside(login.wireInputs.stdin);
    login.wireInputs.logging = "stdoutAndStderr";
    const found = diagnostics(await call("analyzeStack", stackRequest(testprod)));
    // Its stdin is now a plain input holding the token, and a command that logs what it was sent.
    assert.deepEqual(found.map((d) => d.policy), [GATES.plainSecrets, GATES.silentCommands, GATES.silentCommands]);
    assert.match(found[0].message, /registry-login stdin carries (config wepppy-cicd:registry\.password|github-environment-testprod-secret-REGISTRY_TOKEN value) in plain text/);
    assert.match(found[1].message, /registry-login receives (config wepppy-cicd:registry\.password|github-environment-testprod-secret-REGISTRY_TOKEN value) in stdin/);
  });

  it("checks each resource's inputs (Analyze) at the level the pack config sets (Configure)", async () => {
    const testprod = graphOf(stacks.find((s) => s.stack === "testprod" && !s.preview)!);
    const deploy = resource(testprod, "testprod-compose-deploy");
    delete inside(deploy.wireInputs.connection).hostKey;
    const analyze = () => {
      const req = new pb.AnalyzeRequest();
      const r = analyzerResource(testprod, deploy, deploy.wireInputs);
      req.setType(r.getType());
      req.setName(r.getName());
      req.setUrn(r.getUrn());
      req.setProperties(r.getProperties());
      req.setOptions(r.getOptions());
      req.setProvider(r.getProvider());
      return call("analyze", req);
    };
    const before = diagnostics(await analyze());
    assert.deepEqual(before.map((d) => [d.policy, d.level]), [[GATES.hostKey, "mandatory"]]);
    assert.match(before[0].message, /without a pinned host key/);

    const configure = new pb.ConfigureAnalyzerRequest();
    const advisory = new pb.PolicyConfig();
    advisory.setEnforcementlevel(pb.EnforcementLevel.ADVISORY);
    advisory.setProperties(struct({}));
    configure.getPolicyconfigMap().set(GATES.hostKey, advisory);
    await call("configure", configure);
    assert.deepEqual(diagnostics(await analyze()).map((d) => [d.policy, d.level]), [[GATES.hostKey, "advisory"]]);
  });
});
