import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ENVIRONMENTS, NAMESPACE, PROJECT, STACKS, StackName } from "../../config/environments";
import { ISSUED_ELSEWHERE } from "../../program/components/wepppySecrets";
import { Evaluation, ResourceRequest } from "../../harness/evaluate";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { PROMOTED_IMAGE, deployableConfig, evaluate, fakeDigest } from "./helpers";

/** The stack file read independently of the program's own loader. */
function stackFile(stack: string): Record<string, any> {
  const doc = parse(fs.readFileSync(path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`), "utf8"));
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(`${NAMESPACE}:`, ""), v]));
}

/** Secrets wepppy's compose file keeps under secrets/, read straight from the reference. */
function composeSecrets(file: string): string[] {
  const doc = parse(fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, file), "utf8"));
  return Object.entries(doc.secrets as Record<string, { file: string }>)
    .filter(([, s]) => s.file.startsWith("./secrets/"))
    .map(([name]) => name);
}

/** Random passwords get distinct recognisable values so a leak into an output can be found. */
function withPlaceholderSecrets(seen: string[]) {
  return async (r: ResourceRequest) => {
    if (r.type === "random:index/randomPassword:RandomPassword") {
      const result = `PLACEHOLDER-SECRET-${r.name}`;
      seen.push(result);
      return { state: { ...r.inputs, result } };
    }
    return { state: r.inputs };
  };
}

function byType(ev: Evaluation, type: string) {
  return ev.resources.filter((r) => r.type === type);
}

describe("the three stacks under the mock engine", () => {
  const evaluations = new Map<StackName, Evaluation>();
  const placeholders: string[] = [];

  before(async () => {
    // testprod first: prod reads its live image through a StackReference.
    for (const stack of ["dev", "testprod", "prod"] as const) {
      evaluations.set(
        stack,
        await evaluate(stack, {
          preview: false,
          create: withPlaceholderSecrets(placeholders),
          stackOutputs: evaluations.has("testprod") ? { testprod: evaluations.get("testprod")!.outputs } : {},
        }),
      );
    }
  });

  it("Pulumi.yaml names the project and entry point the code uses", () => {
    const project = parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8"));
    assert.equal(project.name, PROJECT);
    assert.equal(project.main, "program/index.ts");
    assert.equal(project.runtime.name, "nodejs");
  });

  for (const stack of STACKS) {
    describe(stack, () => {
      it("exports its environment, URL and host from its own stack file", () => {
        const ev = evaluations.get(stack)!;
        const file = stackFile(stack);
        assert.equal(ev.outputs.environment, stack);
        assert.equal(ev.outputs.url, `https://${file.site.domain}`);
        assert.equal(ev.outputs.host, file.deploy.host);
        assert.deepEqual(ev.outputs.composeFiles, file.compose.files);
        assert.equal(ev.outputs.githubEnvironment, ENVIRONMENTS[stack].githubEnvironment);
        assert.equal(ev.outputs.imageSource, file.image.source);
      });

      it("parents every resource under one of the program's components", () => {
        const ev = evaluations.get(stack)!;
        const components = new Set(ev.resources.filter((r) => !r.custom).map((r) => r.urn));
        const custom = ev.resources.filter((r) => r.custom);
        assert.ok(custom.length > 0);
        for (const r of custom) assert.ok(components.has(r.parent), `${r.type} ${r.name} has parent "${r.parent}"`);
      });

      it("generates every secret wepppy's compose file mounts, except those issued elsewhere", () => {
        const ev = evaluations.get(stack)!;
        const file = stackFile(stack);
        const expected = file.compose.files
          .flatMap(composeSecrets)
          .filter((s: string) => !ISSUED_ELSEWHERE.has(s))
          .sort();
        const generated = byType(ev, "random:index/randomPassword:RandomPassword").map((r) =>
          r.name.replace(/^wepppy-secrets-/, ""),
        );
        assert.deepEqual(generated.sort(), [...new Set(expected)]);
        assert.ok(generated.includes("postgres_password"));
      });

      it("puts no secret value in a plain output", () => {
        const ev = evaluations.get(stack)!;
        const text = JSON.stringify(ev.outputs);
        for (const p of placeholders) assert.ok(!text.includes(p), `${p} is in the outputs of ${stack}`);
      });

      it("evaluates in preview too (what a PR check runs)", async () => {
        const ev = await evaluate(stack, {
          preview: true,
          stackOutputs: { testprod: evaluations.get("testprod")!.outputs },
        });
        assert.equal(ev.outputs.environment, stack);
      });
    });
  }

  it("testprod pins its registry tag to that tag's digest", () => {
    const ev = evaluations.get("testprod")!;
    const { repository, tag } = stackFile("testprod").image;
    assert.deepEqual(
      ev.invokes.map((i) => [i.token, i.args.name]),
      [["docker:index/getRegistryImage:getRegistryImage", `${repository}:${tag}`]],
    );
    assert.equal(ev.outputs.imageDigest, fakeDigest(`${repository}:${tag}`));
    assert.equal(ev.outputs.imageRef, `${repository}@${fakeDigest(`${repository}:${tag}`)}`);
  });

  it("prod runs exactly the digest its config names (what `wepppy-cicd promote` wrote), with no registry lookup and no StackReference", () => {
    const prod = evaluations.get("prod")!;
    assert.deepEqual(byType(prod, "pulumi:pulumi:StackReference"), [], "an update does not follow whatever testprod runs now");
    assert.deepEqual(prod.invokes.filter((i) => i.token.startsWith("docker:")), [], "prod must not look a tag up in the registry");
    assert.equal(prod.outputs.imageRef, PROMOTED_IMAGE);
    assert.equal(prod.outputs.promotedFrom, "testprod");
  });

  it("prod's update refuses without a promoted digest, and its preview shows what testprod has live", async () => {
    const raw = deployableConfig("prod");
    raw.values["wepppy-cicd:image"] = JSON.stringify({ source: "promoted", from: "testprod" });
    await assert.rejects(evaluate("prod", { preview: false, config: raw }), /image\.digest is not set in this checkout/);
    const testprod = evaluations.get("testprod")!;
    const preview = await evaluate("prod", { preview: true, config: raw, stackOutputs: { testprod: testprod.outputs } });
    assert.deepEqual(byType(preview, "pulumi:pulumi:StackReference").map((r) => r.inputs.name), [`organization/${PROJECT}/testprod`]);
    assert.equal(preview.outputs.sourceLive, testprod.outputs.imageRef);
  });

  it("a prod hotfix bypasses testprod explicitly and says why", async () => {
    const tag = "sha-" + "c".repeat(40);
    const ev = await evaluateHotfix(tag, "CVE fix cannot wait for the soak");
    assert.deepEqual(byType(ev, "pulumi:pulumi:StackReference"), []);
    assert.equal(ev.outputs.imageDigest, fakeDigest(`ghcr.io/rogerlew/wepppy:${tag}`));
    assert.equal(ev.outputs.hotfix, "CVE fix cannot wait for the soak");
  });

  it("dev builds on its host from the configured checkout, with no registry lookup", () => {
    const ev = evaluations.get("dev")!;
    const { checkout, ref } = stackFile("dev").image;
    assert.deepEqual(ev.invokes, []);
    assert.equal(ev.outputs.imageRef, `build:${checkout}#${ref}`);
  });
});

function evaluateHotfix(tag: string, reason: string) {
  return evaluate("prod", {
    preview: false,
    config: deployableConfig("prod", { "image.hotfix": { tag, reason } }),
  });
}
