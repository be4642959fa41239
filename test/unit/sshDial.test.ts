import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dialDelayMs, failedToDial, runRemote } from "../../ops/ssh";

/*
 * Dialling again as @pulumi/command 1.2.1 does (remote/connection.go dialWithRetry, up to
 * dialErrorLimit, default 10) when ssh could not open a session, and never once a session
 * began (the command may have run). A stand-in `ssh` on PATH fails its first dials with
 * what OpenSSH prints when sshd sheds a connection (MaxStartups), then runs the command.
 */

describe("ssh: dialling again when the connection could not be made", function () {
  this.timeout(20000);
  let dir: string;
  let pathBefore: string | undefined;

  function fakeSsh(failures: number, how = "kex_exchange_identification: read: Connection reset by peer") {
    fs.writeFileSync(
      path.join(dir, "ssh"),
      `#!/bin/bash
n=$(cat "${dir}/dials" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "${dir}/dials"
if [ "$n" -le ${failures} ]; then echo "${how}" >&2; exit 255; fi
for last; do :; done
bash -c "$last"
`,
      { mode: 0o755 },
    );
  }
  const dials = () => Number(fs.readFileSync(path.join(dir, "dials"), "utf8"));
  const conn = (limit?: number) => ({ host: "h", user: "u", hostKey: "ssh-ed25519 AAAA", privateKey: "k", ...(limit === undefined ? {} : { dialErrorLimit: limit }) });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sshdial-"));
    pathBefore = process.env.PATH;
    process.env.PATH = `${dir}:${pathBefore}`;
  });
  afterEach(() => {
    process.env.PATH = pathBefore;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("tells a failed dial from a failed command or a broken session", () => {
    assert.equal(failedToDial({ code: 255, stdout: "", stderr: "kex_exchange_identification: read: Connection reset by peer\n" }), true);
    assert.equal(failedToDial({ code: 255, stdout: "", stderr: "ssh: connect to host 10.0.0.1 port 22: Connection refused\n" }), true);
    assert.equal(failedToDial({ code: 1, stdout: "", stderr: "Connection refused" }), false, "the command's own exit");
    assert.equal(failedToDial({ code: 255, stdout: "partial", stderr: "Connection reset by peer" }), false, "the session had begun");
    assert.equal(failedToDial({ code: 255, stdout: "", stderr: "Host key verification failed.\n" }), false, "a changed key is refused at once");
    assert.deepEqual([0, 1, 2, 10, 20].map(dialDelayMs), [100, 150, 225, Math.min(100 * 1.5 ** 10, 5000), 5000]);
  });

  it("dials again after a shed connection and runs the command once", async () => {
    fakeSsh(2);
    const r = await runRemote(conn(), "echo ran >> " + path.join(dir, "ran") + "; echo ok");
    assert.equal(r.stdout.trim(), "ok");
    assert.equal(dials(), 3);
    assert.equal(fs.readFileSync(path.join(dir, "ran"), "utf8"), "ran\n");
  });

  it("gives up after dialErrorLimit attempts, saying how many", async () => {
    fakeSsh(99);
    await assert.rejects(runRemote(conn(3), "true"), /ssh failed: kex_exchange_identification.* \(after 3 attempts\)/);
    assert.equal(dials(), 3);
  });

  it("does not dial again when the command itself failed", async () => {
    fakeSsh(0);
    const r = await runRemote(conn(), "echo 'Connection refused' >&2; exit 3");
    assert.equal(r.code, 3);
    assert.equal(dials(), 1);
  });
});
