import { strict as assert } from "node:assert";
import { attackRunner, attackScript, needles } from "../../rig/attackRunner";

/* The TS side of `rig attack-runner`: what it searches for, how it sends it, how it reads the answer. */

describe("attack-runner (its parts that need no rig)", () => {
  const secrets = [
    { stack: "prod", name: "postgres_password", value: "PLACEHOLDER-prod-postgres-0123456789" },
    { stack: "rig", name: "deployKey", value: "-----BEGIN OPENSSH PRIVATE KEY-----\nshort\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n" },
    { stack: "dev", name: "empty", value: "" },
  ];

  it("searches for each value (a key by its longest line) and skips values too short to mean anything", () => {
    assert.deepEqual(needles(secrets).map((n) => [n.index, n.text.slice(0, 12)]), [
      [0, "PLACEHOLDER-"],
      [1, "b3BlbnNzaC1r"],
    ]);
  });

  it("sends the values on stdin only, as each CI account, and reports findings, sockets and what survived", async () => {
    const seen: { script: string; input: string }[] = [];
    const result = await attackRunner({
      root: "/opt/wepppy-runner",
      accounts: ["ghr-ci-1", "ghr-ci-2"],
      secrets,
      run: async (_host, script, input) => {
        seen.push({ script, input });
        const out = seen.length === 1 ? "FOUND\tfile:/workdir/wepppy/docker/secrets/x\t1\nSOCKET\t/var/run/docker.sock\t1\nPLANT\t/tmp/p\t0\n" : "PLANT\t/tmp/p\t1\n";
        return { code: 0, stdout: out, stderr: "" };
      },
    });
    assert.deepEqual(seen.map((s) => s.script.startsWith(`sudo -n runuser -u ghr-ci-${seen.indexOf(s) + 1} -- bash -c `)), [true, true]);
    for (const s of seen) {
      assert.ok(!s.script.includes("PLACEHOLDER-prod-postgres"), "a secret is on the command line");
      assert.ok(s.input.includes("PLACEHOLDER-prod-postgres-0123456789\n"));
    }
    assert.deepEqual(result.found, [{ account: "ghr-ci-1", where: "file:/workdir/wepppy/docker/secrets/x", stack: "prod", secret: "postgres_password" }]);
    assert.deepEqual(result.sockets, [{ account: "ghr-ci-1", path: "/var/run/docker.sock", docker: true }]);
    assert.equal(result.plantedSurvived, true);
  });

  it("refuses an account or a root that a shell would read as more than a word", async () => {
    await assert.rejects(attackRunner({ root: "/opt/x; id", accounts: [], secrets }), /not a plain absolute path/);
    await assert.rejects(attackRunner({ root: "/opt/x", accounts: ["a b"], secrets, run: async () => ({ code: 0, stdout: "", stderr: "" }) }), /not an account name/);
    assert.match(attackScript("/opt/wepppy-runner"), /bash \/opt\/wepppy-runner\/bin\/job-completed\.sh/);
  });
});
