import * as assert from "node:assert/strict";
import { cancel } from "../../ops/cancel";
import { world, World } from "./engine/fixture";

/*
 * wepppy-cicd cancel on the stand-in file backend: the lock a killed CLI left is removed (as
 * pulumi cancel removes it), and what the host reports is passed on.
 */

describe("ops: cancel", () => {
  let w: World;
  beforeEach(() => (w = world()));
  afterEach(() => w.cleanup());

  it("removes the lock a killed update left and reports the host's run", async () => {
    w.backend.lock("dev");
    const stack = w.stack(async () => ({}));
    await assert.rejects(stack.up(), /the stack is currently locked by 1 lock/);
    const run = { runId: "20261201T101010101Z-0000abcd", phase: "gate" };
    const r = await cancel({ stack, hostStatus: async () => ({ run, lock: { state: "held" } }) });
    assert.equal(r.ok, true);
    assert.deepEqual(w.backend.locks("dev"), []);
    assert.deepEqual(r.host, { run, lock: { state: "held" } });
    assert.match(r.notes[0], /the host is still running a deploy: .*"phase":"gate"/);
    await stack.up();
  });

  it("still removes the lock when the host cannot be asked, and says why", async () => {
    w.backend.lock("dev");
    const r = await cancel({ stack: w.stack(async () => ({})), hostStatus: async () => { throw new Error("host unreachable\nmore"); } });
    assert.deepEqual(w.backend.locks("dev"), []);
    assert.deepEqual(r.host, { error: "host unreachable" });
  });
});
