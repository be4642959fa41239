import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { remote } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { StateResource } from "../../../harness/engine/backend";
import { RegistrationTokenLatch } from "../../../program/components/githubRest";
import { conn, world, World } from "./fixture";

/*
 * Conformance of the stand-in engine and providers with the real ones at the versions
 * pinned (pulumi 3.248.0, @pulumi/command 1.2.1 with pulumi-go-provider 1.3.0, the file
 * backend). Each test names the upstream behaviour it copies. A program is run twice (or
 * more) against the same backend, as successive `pulumi up`s are.
 */

let w: World;
// Hooks at the root run around every test of the run, not only this file's: each scratch world is for this file's tests.
const ours = (ctx: Mocha.Context) => ctx.currentTest?.file === __filename;
beforeEach(function () {
  if (ours(this)) w = world();
});
afterEach(function () {
  if (ours(this)) w.cleanup();
});

function resource(stackResult: StateResource[] | undefined, name: string) {
  return stackResult?.find((r) => r.urn.endsWith(`::${name}`));
}

async function up(program: () => void | Promise<void>) {
  const stack = w.stack(async () => {
    await program();
    return {};
  });
  try {
    await stack.up();
    return { ok: true, error: "" };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function state() {
  return w.backend.checkpoint("dev").resources;
}

describe("stand-in engine: conformance with pulumi 3.248.0 and @pulumi/command 1.2.1", () => {
  it("an input change other than triggers is an Update: the id is kept, `create` runs again, no delete (commandController.go:70-80, step.go:928)", async () => {
    const mk = (create: string) => () => {
      new remote.Command("a", { connection: conn(), create, delete: "echo delete >> log" });
    };
    await up(mk("echo create-1 >> log"));
    const id = resource(state(), "a")!.id;
    await up(mk("echo create-2 >> log"));
    assert.equal(resource(state(), "a")!.id, id, "an Update keeps the id");
    assert.deepEqual(w.hostLog(), ["create-1", "create-2"], "no delete on an Update");
  });

  it("an Update runs `update` when it is set, not `create` (commandController.go:76-80)", async () => {
    const mk = (stdin: string) => () => {
      new remote.Command("a", { connection: conn(), create: "echo create >> log", update: "echo update >> log", stdin });
    };
    await up(mk("one"));
    await up(mk("two"));
    assert.deepEqual(w.hostLog(), ["create", "update"]);
  });

  it("a change of connection alone is an Update that runs `create` on the new host (command.go:37-49)", async () => {
    const mk = (host: string) => () => {
      new remote.Command("a", { connection: conn(host), create: "echo create >> log", delete: "echo delete >> log" });
    };
    await up(mk("old-host"));
    await up(mk("new-host"));
    assert.deepEqual(
      w.host.log.map((e) => `${e.host} ${e.text}`),
      ["old-host echo create >> log", "new-host echo create >> log"],
    );
  });

  it("a triggers change replaces: new id, create first, the old delete at the end of the update (step_generator.go:2033-2038, 2210-2241)", async () => {
    const mk = (trigger: string) => () => {
      const a = new remote.Command("a", { connection: conn(), create: `echo create-a-${trigger} >> log`, delete: `echo delete-a >> log`, triggers: [trigger] });
      new remote.Command("b", { connection: conn(), create: `echo create-b-${trigger} >> log`, triggers: [trigger] }, { dependsOn: [a] });
    };
    await up(mk("1"));
    const id = resource(state(), "a")!.id;
    await up(mk("2"));
    assert.notEqual(resource(state(), "a")!.id, id, "a replacement has a new id");
    assert.deepEqual(w.hostLog(), ["create-a-1", "create-b-1", "create-a-2", "create-b-2", "delete-a"]);
  });

  it("deleteBeforeReplace deletes the old resource before creating the new one (step_generator.go:1922-1926)", async () => {
    const mk = (trigger: string) => () => {
      new remote.Command("a", { connection: conn(), create: `echo create-${trigger} >> log`, delete: "echo delete >> log", triggers: [trigger] }, { deleteBeforeReplace: true });
    };
    await up(mk("1"));
    await up(mk("2"));
    assert.deepEqual(w.hostLog(), ["create-1", "delete", "create-2"]);
  });

  it("nothing runs when nothing changed (same step)", async () => {
    const mk = () => () => {
      new remote.Command("a", { connection: conn(), create: "echo create >> log", triggers: ["x"] });
    };
    await up(mk());
    await up(mk());
    assert.deepEqual(w.hostLog(), ["create"]);
  });

  it("a resource the program stops declaring is deleted with the state's command over the state's connection (commandController.go:86-92)", async () => {
    await up(() => {
      new remote.Command("a", { connection: conn("first-host"), create: "echo create >> log", delete: "echo delete-from-state >> log" });
    });
    await up(() => undefined);
    assert.deepEqual(w.host.log.map((e) => `${e.host} ${e.text}`), ["first-host echo create >> log", "first-host echo delete-from-state >> log"]);
    assert.equal(resource(state(), "a"), undefined);
  });

  it("stdout and stderr are kept in state with one trailing newline trimmed (commandOutputs.go:103-106)", async () => {
    await up(() => {
      new remote.Command("a", { connection: conn(), create: "printf 'out\\n\\n'; printf 'err\\n' >&2" });
    });
    const outputs = resource(state(), "a")!.outputs as Record<string, unknown>;
    assert.equal(outputs.stdout, "out\n");
    assert.equal(outputs.stderr, "err");
  });

  it("a failed command's error quotes the command and its whole output, logging none or not (commandOutputs.go:100-102)", async () => {
    const r = await up(() => {
      new remote.Command("a", { connection: conn(), create: "echo the-whole-output; exit 3", logging: "none" });
    });
    assert.equal(r.ok, false);
    assert.match(r.error, /Process exited with status 3: running "echo the-whole-output; exit 3":\nthe-whole-output/);
  });

  it("a failed create records nothing; a failed update keeps the old inputs and outputs (snapshot.go:412-466)", async () => {
    const failedCreate = await up(() => {
      new remote.Command("a", { connection: conn(), create: "exit 1" });
    });
    assert.equal(failedCreate.ok, false);
    assert.equal(resource(state(), "a"), undefined);
    await up(() => {
      new remote.Command("b", { connection: conn(), create: "echo good", stdin: "v1" });
    });
    const before = resource(state(), "b")!;
    const failedUpdate = await up(() => {
      new remote.Command("b", { connection: conn(), create: "echo good; exit 1", stdin: "v2" });
    });
    assert.equal(failedUpdate.ok, false);
    const after = resource(state(), "b")!;
    assert.deepEqual(after, before, "the old state is kept exactly");
  });

  it("after a failed step no new step starts, and steps under way finish and are recorded (step_executor.go:413-458, deployment_executor.go:316-348)", async () => {
    const r = await up(async () => {
      new remote.Command("fails", { connection: conn(), create: "echo fails >> log; exit 1" });
      new remote.Command("slow", { connection: conn(), create: "sleep 1; echo slow >> log" });
      await new Promise((resolve) => setTimeout(resolve, 500));
      new remote.Command("late", { connection: conn(), create: "echo late >> log" });
    });
    assert.equal(r.ok, false);
    // The update ends with the failed step's own error (exit status 1 is not a gRPC status).
    assert.match(r.error, /Process exited with status 1: running "echo fails >> log; exit 1":/);
    assert.doesNotMatch(r.error, /Resource monitor is terminating/);
    assert.deepEqual(w.hostLog().sort(), ["fails", "slow"], "the late one never ran");
    assert.ok(resource(state(), "slow"), "the step under way was recorded");
    assert.equal(resource(state(), "late"), undefined);
  });

  it("no delete runs after a failure: a replaced resource's old copy waits, marked, and the next update deletes it (step_generator.go:2210-2241)", async () => {
    const mk = (trigger: string, fail: boolean) => () => {
      const a = new remote.Command("a", { connection: conn(), create: `echo create-a-${trigger} >> log`, delete: "echo delete-a >> log", triggers: [trigger] });
      new remote.Command("b", { connection: conn(), create: fail ? "exit 1" : "true" }, { dependsOn: [a] });
    };
    await up(mk("1", false));
    const failed = await up(mk("2", true));
    assert.equal(failed.ok, false);
    assert.deepEqual(w.hostLog(), ["create-a-1", "create-a-2"]);
    assert.ok(state().some((r) => r.name === "a" && r.delete === true), "the old copy is kept, marked for deletion");
    await up(mk("2", false));
    assert.deepEqual(w.hostLog(), ["create-a-1", "create-a-2", "delete-a"]);
  });

  it("runs at most --parallel steps at once (PULUMI_PARALLEL; default 4 per core: operations/up.go defaultParallel)", async () => {
    const before = process.env.PULUMI_PARALLEL;
    process.env.PULUMI_PARALLEL = "2";
    try {
      // Each command counts the commands running beside it.
      const cmd = "mkdir -p running && touch running/$$ && ls running | wc -l >> widths && sleep 0.3 && rm running/$$";
      const r = await up(() => {
        for (let i = 0; i < 6; i++) new remote.Command(`c${i}`, { connection: conn(), create: cmd });
      });
      assert.equal(r.ok, true, r.error);
      const widths = fs.readFileSync(path.join(w.host.root, "widths"), "utf8").trim().split("\n").map(Number);
      assert.equal(widths.length, 6);
      assert.equal(Math.max(...widths), 2, `widths ${widths}`);
    } finally {
      if (before === undefined) delete process.env.PULUMI_PARALLEL;
      else process.env.PULUMI_PARALLEL = before;
    }
  });

  it("an update holds the stack's lock; one a killed CLI left refuses the next update, naming it, until `pulumi cancel` (diy/lock.go:63-104, backend.go:1137, 1631)", async () => {
    const prog = () => {
      new remote.Command("c", { connection: conn(), create: "echo hi >> log" });
    };
    w.backend.lock("dev"); // taken and never released: the CLI was killed
    const refused = await up(prog);
    assert.equal(refused.ok, false);
    assert.match(refused.error, /the stack is currently locked by 1 lock\(s\)\. Either wait for the other process\(es\) to end or delete the lock file with `pulumi cancel`\.\n  file:\/\/.*\/\.pulumi\/locks\/organization\/wepppy-cicd\/dev\/[0-9a-f-]{36}\.json: created by \S+@\S+ \(pid \d+\) at 20\d\d-/);
    assert.deepEqual(w.hostLog(), [], "nothing ran");
    assert.equal(w.backend.cancel("dev"), 1);
    const after = await up(prog);
    assert.equal(after.ok, true, after.error);
    assert.deepEqual(w.hostLog(), ["hi"]);
    assert.deepEqual(w.backend.locks("dev"), [], "a finished update unlocks");
    const failing = await up(() => {
      new remote.Command("c", { connection: conn(), create: "exit 3" });
    });
    assert.equal(failing.ok, false);
    assert.deepEqual(w.backend.locks("dev"), [], "a failed update unlocks too");
  });

  it("state is keyed by URN, the parent chain included (sdk/go/common/resource/urn.go NewURN)", async () => {
    class Outer extends pulumi.ComponentResource {
      constructor(name: string) {
        super("test:index:Outer", name, {}, {});
        new Inner(`${name}-inner`, this);
      }
    }
    class Inner extends pulumi.ComponentResource {
      constructor(name: string, parent: pulumi.Resource) {
        super("test:index:Inner", name, {}, { parent });
        new remote.Command(`${name}-cmd`, { connection: conn(), create: `echo ${name} >> log`, delete: `echo delete-${name} >> log` }, { parent: this });
      }
    }
    await up(() => {
      new Outer("x");
    });
    const urn = state().find((r) => r.type === "command:remote:Command")!.urn;
    assert.equal(urn, "urn:pulumi:dev::wepppy-cicd::test:index:Outer$test:index:Inner$command:remote:Command::x-inner-cmd");
    await up(() => {
      new Outer("x");
    });
    assert.deepEqual(w.hostLog(), ["x-inner"], "same URN: nothing runs");
  });

  it("a dynamic provider's own diff decides: the token latch keeps its first token until a new generation replaces it (provider.go Diff, dynamic/index.ts)", async () => {
    const mk = (token: string, generation: number) => () => {
      const latch = new RegistrationTokenLatch("latch", { token, generation });
      new remote.Command("register", { connection: conn(), create: "cat >> log; echo >> log", stdin: latch.token });
    };
    await up(mk("token-1", 1));
    const id = resource(state(), "latch")!.id;
    await up(mk("token-2", 1));
    assert.equal(resource(state(), "latch")!.id, id);
    assert.deepEqual(w.hostLog(), ["token-1"], "a fresh token alone runs nothing");
    await up(mk("token-3", 2));
    assert.notEqual(resource(state(), "latch")!.id, id, "a new generation replaces the latch");
    assert.deepEqual(w.hostLog(), ["token-1", "token-3"]);
  });

  it("protected resources are neither replaced nor deleted", async () => {
    await up(() => {
      new remote.Command("a", { connection: conn(), create: "echo a >> log", triggers: ["1"] }, { protect: true });
    });
    const r = await up(() => {
      new remote.Command("a", { connection: conn(), create: "echo a >> log", triggers: ["2"] }, { protect: true });
    });
    assert.equal(r.ok, false);
    assert.match(r.error, /marked for protection/);
    assert.deepEqual(w.hostLog(), ["a"]);
  });
});

describe("stand-in CopyToRemote: conformance with @pulumi/command 1.2.1 over SFTP", () => {
  function source(content: string, mode: number): string {
    const file = path.join(w.dir, "src.sh");
    fs.writeFileSync(file, content);
    fs.chmodSync(file, mode);
    return file;
  }
  const remoteFile = () => path.join(w.host.root, "opt/app/bin/run.sh");

  it("a new file is created 0644 whatever the local mode, its missing parents 0755 (sftp client.go:250-260, sftp-server.c:742-781)", async () => {
    const file = source("#!/bin/sh\necho hi\n", 0o755);
    await up(() => {
      new remote.CopyToRemote("c", { connection: conn(), source: new pulumi.asset.FileAsset(file), remotePath: "/opt/app/bin/run.sh" });
    });
    assert.equal(fs.statSync(remoteFile()).mode & 0o777, 0o644);
    assert.equal(fs.statSync(path.dirname(remoteFile())).mode & 0o777, 0o755);
  });

  it("an existing file keeps its mode when it is written again", async () => {
    const mk = (file: string) => () => {
      new remote.CopyToRemote("c", { connection: conn(), source: new pulumi.asset.FileAsset(file), remotePath: "/opt/app/bin/run.sh" });
    };
    await up(mk(source("one\n", 0o644)));
    fs.chmodSync(remoteFile(), 0o700);
    await up(mk(source("two\n", 0o644)));
    assert.equal(fs.readFileSync(remoteFile(), "utf8"), "two\n");
    assert.equal(fs.statSync(remoteFile()).mode & 0o777, 0o700);
  });

  it("an Update copies only when the asset's hash or remotePath changed: a new connection copies nothing (copyController.go:148)", async () => {
    const file = source("same\n", 0o644);
    const mk = (host: string) => () => {
      new remote.CopyToRemote("c", { connection: conn(host), source: new pulumi.asset.FileAsset(file), remotePath: "/opt/app/bin/run.sh" });
    };
    await up(mk("old-host"));
    await up(mk("new-host"));
    assert.deepEqual(w.host.log.map((e) => `${e.host} ${e.kind}`), ["old-host copy"]);
  });

  it("a string asset is written as its text, 0644, and a changed text is copied again on an Update (copyController.go:47-57, :148)", async () => {
    const mk = (text: string) => () => {
      new remote.CopyToRemote("c", { connection: conn(), source: new pulumi.asset.StringAsset(text), remotePath: "/opt/app/etc/deploy.json" });
    };
    await up(mk('{"a":1}\n'));
    await up(mk('{"a":1}\n'));
    const target = path.join(w.host.root, "opt/app/etc/deploy.json");
    assert.equal(fs.readFileSync(target, "utf8"), '{"a":1}\n');
    assert.equal(fs.statSync(target).mode & 0o777, 0o644);
    await up(mk('{"a":2}\n'));
    assert.equal(fs.readFileSync(target, "utf8"), '{"a":2}\n');
    assert.equal(w.host.log.filter((e) => e.kind === "copy").length, 2, "the unchanged text was not copied again");
  });

  it("triggers replace, and a replacement copies again", async () => {
    const file = source("same\n", 0o644);
    const mk = (trigger: string) => () => {
      new remote.CopyToRemote("c", { connection: conn(), source: new pulumi.asset.FileAsset(file), remotePath: "/opt/app/bin/run.sh", triggers: [trigger] });
    };
    await up(mk("1"));
    await up(mk("2"));
    assert.equal(w.host.log.filter((e) => e.kind === "copy").length, 2);
  });
});
