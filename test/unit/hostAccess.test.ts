import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { privateKeyFor } from "../../ops/hostAccess";

/*
 * Which key an operator's command (status, audit, promote reading testprod's evidence) uses
 * for a real host: the one named, else the stack's own deploy key (what a CI job has, with
 * the passphrase), else an ssh-agent, else ~/.ssh/id_ed25519; none is a clear error.
 */

describe("host access: the key an operator's command uses", () => {
  let dir: string;
  const saved = { sock: process.env.SSH_AUTH_SOCK, home: process.env.HOME };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostaccess-"));
    delete process.env.SSH_AUTH_SOCK;
    process.env.HOME = dir;
  });
  afterEach(() => {
    process.env.SSH_AUTH_SOCK = saved.sock;
    if (saved.sock === undefined) delete process.env.SSH_AUTH_SOCK;
    process.env.HOME = saved.home;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const stackKey = (k?: string) => async () => k;

  it("takes the named file first, then the stack's deploy key, then an agent, then ~/.ssh/id_ed25519", async () => {
    const named = path.join(dir, "named");
    fs.writeFileSync(named, "NAMED-KEY");
    assert.deepEqual(await privateKeyFor("prod", named, stackKey("STACK-KEY")), { key: "NAMED-KEY", via: named });
    assert.deepEqual(await privateKeyFor("prod", undefined, stackKey("STACK-KEY")), { key: "STACK-KEY", via: "prod's deployKey" });
    process.env.SSH_AUTH_SOCK = path.join(dir, "agent.sock");
    assert.deepEqual(await privateKeyFor("prod", undefined, stackKey()), { via: "ssh-agent" });
    delete process.env.SSH_AUTH_SOCK;
    fs.mkdirSync(path.join(dir, ".ssh"));
    fs.writeFileSync(path.join(dir, ".ssh", "id_ed25519"), "HOME-KEY");
    assert.equal((await privateKeyFor("prod", undefined, stackKey())).key, "HOME-KEY");
  });

  it("a stack whose config cannot be read (no Pulumi CLI, no passphrase) falls through to the next source", async () => {
    process.env.SSH_AUTH_SOCK = path.join(dir, "agent.sock");
    assert.deepEqual(await privateKeyFor("testprod", undefined, async () => { throw new Error("no pulumi"); }), { via: "ssh-agent" });
  });

  it("says what to do when there is no key, and refuses a named file that is not there", async () => {
    await assert.rejects(privateKeyFor("testprod", undefined, stackKey()), /no key to reach testprod's host: name one \(--identity FILE\), set wepppy-cicd:deployKey in the stack \(secret\), or run an ssh-agent/);
    await assert.rejects(privateKeyFor("testprod", path.join(dir, "missing"), stackKey("STACK-KEY")), /no private key at .*missing \(--identity\)/);
  });
});
