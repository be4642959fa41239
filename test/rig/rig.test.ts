/** The rig's own guarantees (issue 3): pinned SSH, isolated hosts, an authenticated registry. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RigStatus, sshRun } from "../../rig";
import { paths, registry } from "../../rig/config";
import { check, run } from "../../rig/exec";
import { dockerBin } from "../../rig/config";
import { pushImage, readCredentials } from "../../rig/registry";
import { loginOnHost, rigStandins } from "../../rig/stacks";
import { curl, ensureRig, randomName, waitFor } from "./helpers";

describe("rig", function () {
  let status: RigStatus;
  let tmp: string;

  before(async function () {
    status = await ensureRig();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rig-test-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe("ssh", () => {
    it("logs in to each host as the deploy user with the pinned key, in group docker", async () => {
      for (const h of status.hosts) {
        const r = await sshRun(h.name, { script: "hostname; id -un; id -Gn; docker info --format '{{.ServerVersion}}'" });
        assert.equal(r.code, 0, `${h.name}: ${r.stderr}`);
        const [hostname, user, groups, dockerVersion] = r.stdout.trim().split("\n");
        assert.equal(hostname, h.name);
        assert.equal(user, h.sshUser);
        assert.ok(groups.split(" ").includes("docker"), groups);
        assert.match(dockerVersion, /^\d+\.\d+/);
      }
    });

    it("refuses a host whose key differs from the pinned one", async () => {
      const h = status.hosts[1];
      const otherKey = path.join(tmp, "other");
      await check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
      const pub = fs.readFileSync(`${otherKey}.pub`, "utf8").trim().split(" ");
      const wrongKnownHosts = path.join(tmp, "known_hosts_wrong");
      fs.writeFileSync(wrongKnownHosts, `${h.address} ${pub[0]} ${pub[1]}\n`);
      const r = await sshRun(h.name, ["true"], { target: { knownHosts: wrongKnownHosts } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    });

    it("refuses a host that is not in known_hosts at all (no accept-new)", async () => {
      const empty = path.join(tmp, "known_hosts_empty");
      fs.writeFileSync(empty, "");
      const r = await sshRun(status.hosts[0].name, ["true"], { target: { knownHosts: empty } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Host key verification failed|No .* host key is known/);
    });

    it("offers public-key login only: no password or keyboard-interactive", async () => {
      const r = await sshRun(status.hosts[2].name, ["true"], {
        sshOptions: ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"],
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied \(publickey\)/);
    });

    it("refuses a key that is not the rig's", async () => {
      const stranger = path.join(tmp, "stranger");
      await check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger]);
      const r = await sshRun(status.hosts[0].name, ["true"], { target: { privateKey: stranger } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
    });

    it("status reports each host's pinned key line as in the rig's known_hosts", () => {
      const kh = fs.readFileSync(paths.knownHosts(), "utf8");
      for (const h of status.hosts) {
        assert.match(h.hostKey, /^\S+ ssh-ed25519 \S+$/);
        assert.ok(kh.includes(h.hostKey));
      }
    });
  });

  describe("isolation", () => {
    it("each host has its own filesystem", async () => {
      const marker = `/opt/wepppy/${randomName("marker")}`;
      assert.equal((await sshRun("forest", ["touch", marker])).code, 0);
      try {
        assert.equal((await sshRun("forest", ["test", "-e", marker])).code, 0);
        assert.notEqual((await sshRun("forest1", ["test", "-e", marker])).code, 0);
        assert.notEqual((await sshRun("wepp1", ["test", "-e", marker])).code, 0);
      } finally {
        await sshRun("forest", ["rm", "-f", marker]);
      }
    });

    it("each host has its own Docker engine", async () => {
      const ids = await Promise.all(status.hosts.map((h) => sshRun(h.name, ["docker", "info", "--format", "{{.ID}}"])));
      const set = new Set(ids.map((r) => r.stdout.trim()));
      assert.equal(set.size, status.hosts.length);
    });

    it("a port published on wepp1 answers at wepp1's address and not at forest1's or forest's", async () => {
      const wepp1 = status.hosts.find((h) => h.name === "wepp1")!;
      const forest1 = status.hosts.find((h) => h.name === "forest1")!;
      const forest = status.hosts.find((h) => h.name === "forest")!;
      const name = randomName("rig-isolation");
      await loginOnHost("wepp1");
      const started = await sshRun("wepp1", ["docker", "run", "-d", "--name", name, "-p", "18081:8000", rigStandins().weppcloud["rig-a"]]);
      assert.equal(started.code, 0, started.stderr);
      try {
        await waitFor("the container on wepp1", async () => (await curl(["-f", `http://${wepp1.address}:18081/health`])).code === 0, 30_000);
        for (const other of [forest1, forest]) {
          const r = await curl([`http://${other.address}:18081/health`]);
          assert.equal(r.code, 7, `${other.name}: curl should fail to connect, got ${r.code} ${r.stdout}`);
        }
        // From inside forest1, too (host to host), not only from the rig machine.
        const fromForest1 = await sshRun("forest1", ["curl", "-sS", "--max-time", "5", `http://${forest1.address}:18081/health`]);
        assert.notEqual(fromForest1.code, 0);
        const toWepp1 = await sshRun("forest1", ["curl", "-fsS", "--max-time", "5", `http://${wepp1.address}:18081/health`]);
        assert.equal(toWepp1.code, 0, toWepp1.stderr);
      } finally {
        await sshRun("wepp1", ["docker", "rm", "-f", name]);
      }
    });
  });

  describe("registry", () => {
    let ref: string;

    before(async function () {
      // A new image (a unique label on the base) so the push is not of something already there.
      const tag = randomName("wepppy-rig/probe");
      const build = await run([dockerBin(), "build", "-q", "-t", `${tag}:1`, "-"], {
        input: `FROM wepppy-rig/base:bookworm\nLABEL org.wepppy.rig.probe=${tag}\n`,
      });
      assert.equal(build.code, 0, build.stderr);
      ref = await pushImage(`${tag}:1`, "wepppy-rig/probe", tag.split("/")[1]);
      await run([dockerBin(), "rmi", `${tag}:1`, `${registry.address}/wepppy-rig/probe:${tag.split("/")[1]}`]);
    });

    it("answers 401 without credentials and 200 with them", async () => {
      const creds = readCredentials();
      const anon = await curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", creds.caFile, `https://${registry.address}/v2/_catalog`]);
      assert.equal(anon.stdout, "401");
      const authed = await curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", creds.caFile, "-u", `${creds.username}:${creds.password}`, `https://${registry.address}/v2/_catalog`]);
      assert.equal(authed.stdout, "200");
      const wrong = await curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", creds.caFile, "-u", `${creds.username}:not-the-password`, `https://${registry.address}/v2/_catalog`]);
      assert.equal(wrong.stdout, "401");
    });

    it("pushes with auth (digest reference) and a host pulls it by digest", async () => {
      assert.match(ref, new RegExp(`^${registry.address.replace(/\./g, "\\.")}/wepppy-rig/probe@sha256:[0-9a-f]{64}$`));
      await loginOnHost("forest");
      const pull = await sshRun("forest", ["docker", "pull", ref]);
      assert.equal(pull.code, 0, pull.stderr);
      const digests = await sshRun("forest", ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", ref]);
      assert.ok((JSON.parse(digests.stdout) as string[]).includes(ref));
      await sshRun("forest", ["docker", "rmi", ref]);
    });

    it("refuses a pull without credentials", async () => {
      await sshRun("forest1", ["docker", "logout", registry.address]);
      const pull = await sshRun("forest1", ["docker", "pull", ref]);
      assert.notEqual(pull.code, 0);
      assert.match(pull.stderr, /no basic auth credentials|unauthorized|authentication required/i);
    });

    it("refuses a push without credentials", async () => {
      const emptyConfig = fs.mkdtempSync(path.join(os.tmpdir(), "rig-noauth-"));
      const tag = `${registry.address}/wepppy-rig/probe:${randomName("noauth")}`;
      await check([dockerBin(), "tag", "wepppy-rig/base:bookworm", tag]);
      try {
        const push = await run([dockerBin(), "--config", emptyConfig, "push", tag]);
        assert.notEqual(push.code, 0);
        assert.match(push.stderr + push.stdout, /no basic auth credentials|unauthorized|authentication required/i);
      } finally {
        await run([dockerBin(), "rmi", tag]);
        fs.rmSync(emptyConfig, { recursive: true, force: true });
      }
    });
  });
});
