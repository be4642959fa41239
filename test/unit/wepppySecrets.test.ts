import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { WepppySecrets } from "../../program/components/wepppySecrets";

/*
 * WepppySecrets under the SDK's mocks, with the monitor's requests recorded: which secrets
 * become RandomPasswords, and with which options (the harness does not record `protect`).
 */

interface Registered {
  type: string;
  name: string;
  protect: boolean;
}

async function declare(names: string[], provided: Record<string, string>) {
  const registered: Registered[] = [];
  pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: `${args.name}-id`, state: { ...args.inputs, result: `GENERATED-${args.name}` } }),
      call: () => ({}),
    },
    "wepppy-cicd",
    "unit",
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) => {
    registered.push({ type: req.getType(), name: req.getName(), protect: req.getProtect() });
    return original(req, callback);
  };
  const secrets = new WepppySecrets("wepppy-secrets", { names, provided });
  const values = await new Promise<Record<string, string>>((resolve) => secrets.values.apply(resolve));
  return { secrets, values, registered };
}

describe("WepppySecrets", () => {
  it("generates, protected, only the secrets that were neither adopted nor issued elsewhere", async () => {
    const names = ["postgres_password", "flask_secret_key", "redis_password", "oauth_github_client_secret", "opentopography_api_key"];
    // Adopted byte for byte from a host (trailing newline and all), and one third-party secret set by hand.
    const provided = { postgres_password: "from-the-host\n", oauth_github_client_secret: "issued" };
    const { secrets, values, registered } = await declare(names, provided);

    const passwords = registered.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    assert.deepEqual(passwords.map((p) => p.name).sort(), ["wepppy-secrets-flask_secret_key", "wepppy-secrets-redis_password"]);
    for (const p of passwords) assert.equal(p.protect, true, `${p.name} is not protected`);
    assert.deepEqual(secrets.generated.sort(), ["flask_secret_key", "redis_password"]);
    assert.deepEqual(secrets.missing, ["opentopography_api_key"]);

    assert.equal(values.postgres_password, "from-the-host\n");
    assert.equal(values.oauth_github_client_secret, "issued");
    assert.equal(values.opentopography_api_key, "");
    assert.equal(values.flask_secret_key, "GENERATED-wepppy-secrets-flask_secret_key");
  });

  it("generates nothing when every secret was adopted", async () => {
    const { secrets, registered } = await declare(["postgres_password", "redis_password"], { postgres_password: "a", redis_password: "b" });
    assert.deepEqual(registered.filter((r) => r.type.startsWith("random:")), []);
    assert.deepEqual(secrets.generated, []);
  });
});
