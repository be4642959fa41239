import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renameIntoPlaceArgv, withSpareSiteArgv } from "../../bench/rigCaddyReload";
import { parseDigest } from "../../host/agent/caddy";
import { shellJoin } from "../../rig/commands";
import { requireTool } from "../support/tools";

/** As sshRun runs it: the argv joined for the remote shell. */
const remote = (argv: string[]) => execFileSync("sh", ["-c", shellJoin(argv)], { encoding: "utf8" });

describe("bench caddy-reload: its host commands under a real shell", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddy reload "))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("renames a copy into place: a new inode, the old file's readers keep theirs", () => {
    const file = path.join(dir, "Caddyfile");
    const from = path.join(dir, "it's the other");
    fs.writeFileSync(file, "old\n");
    fs.writeFileSync(from, "new\n");
    const held = fs.openSync(file, "r");
    const inode = fs.statSync(file).ino;
    remote(renameIntoPlaceArgv(from, file));
    assert.equal(fs.readFileSync(file, "utf8"), "new\n");
    assert.notEqual(fs.statSync(file).ino, inode);
    assert.equal(fs.readFileSync(held, "utf8"), "old\n", "what a single-file bind mount would keep showing");
    fs.closeSync(held);
  });

  it("adds one site to a copy, and Caddy reads the result as a configuration with one more server", function () {
    requireTool(this, "caddy", ["caddy", "version"]);
    const file = path.join(dir, "Caddyfile");
    const out = path.join(dir, "spare");
    fs.writeFileSync(file, "{\n\tauto_https off\n}\n:8080 {\n\trespond \"ok\"\n}\n");
    remote(withSpareSiteArgv(file, out, 9099));
    const adapt = (f: string) => JSON.parse(execFileSync("caddy", ["adapt", "--config", f, "--adapter", "caddyfile"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    const servers = (j: { apps: { http: { servers: Record<string, { listen: string[] }> } } }) => Object.values(j.apps.http.servers).flatMap((s) => s.listen).sort();
    assert.deepEqual(servers(adapt(file)), [":8080"]);
    assert.deepEqual(servers(adapt(out)), [":8080", ":9099"]);
  });
});

describe("agent: the Caddyfile digest Caddy's container prints", () => {
  it("takes sha256sum's first field, and nothing from an error or another tool's output", () => {
    const d = "a".repeat(64);
    assert.equal(parseDigest(`${d}  /etc/caddy/Caddyfile\n`), d);
    assert.equal(parseDigest("sha256sum: /etc/caddy/Caddyfile: No such file or directory\n"), undefined);
    assert.equal(parseDigest(`${d.slice(1)}  /etc/caddy/Caddyfile\n`), undefined);
    assert.equal(parseDigest(""), undefined);
  });
});
