import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  baseRootfsFiles, hostRunArgv, innerDaemonConfig, knownHostsLine, parseDebianMirror, registryConfigYaml,
  shellJoin, shellQuote, sshArgv,
} from "../../rig/commands";
import { hosts, network, registry } from "../../rig/config";
import { putFileScript } from "../../rig/ssh";
import { redactSecrets } from "../../ops/redact";
import { buildInputsHash, standinBuildArgs } from "../../rig/images";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

describe("rig command builders", () => {
  it("the registry username (a secret, cut out of every update's output) is no part of the words and names that output holds", () => {
    const line = `prod-compose-deploy: replace (stdin, triggers) ... deploy ${registry.address}/wepppy-rig/weppcloud@sha256:${"0".repeat(64)} on ${hosts.map((h) => h.name).join(", ")} via /opt/wepppy-cicd/bin/wepppy-deploy (rig-registry)`;
    assert.equal(redactSecrets(line, [registry.username]), line);
  });

  describe("shellQuote", () => {
    it("round-trips awkward arguments through a real shell", () => {
      const args = ["plain", "with space", "it's", "$(touch /tmp/pwned)", "a\"b", "", "*", "new\nline"];
      const out = execFileSync("sh", ["-c", `printf '%s\\0' ${shellJoin(args)}`]).toString("utf8");
      assert.deepEqual(out.split("\0").slice(0, -1), args);
    });
    it("leaves simple words bare", () => {
      assert.equal(shellQuote("docker"), "docker");
      assert.equal(shellQuote("a=b:c/d.e"), "a=b:c/d.e");
    });
  });

  describe("sshArgv", () => {
    const target = { address: "10.213.0.11", port: 22, user: "roger", privateKey: "/k", knownHosts: "/kh" };
    it("checks host keys strictly against the rig's known_hosts only", () => {
      const argv = sshArgv(target, ["true"]);
      const opts = argv.flatMap((a, i) => (argv[i - 1] === "-o" ? [a] : []));
      assert.ok(opts.includes("StrictHostKeyChecking=yes"));
      assert.ok(opts.includes("UserKnownHostsFile=/kh"));
      assert.ok(opts.includes("GlobalKnownHostsFile=/dev/null"));
      assert.ok(opts.includes("BatchMode=yes"));
      assert.ok(!argv.some((a) => /accept-new|StrictHostKeyChecking=no/.test(a)));
      assert.deepEqual(argv.slice(-4), ["roger", "10.213.0.11", "--", "true"]);
    });
    it("quotes an argv for the remote shell and passes a script as is", () => {
      assert.equal(sshArgv(target, ["echo", "a b"]).at(-1), "echo 'a b'");
      assert.equal(sshArgv(target, { script: "a | b" }).at(-1), "a | b");
    });
  });

  it("knownHostsLine pins a key for names, with [host]:port for other ports", () => {
    assert.equal(knownHostsLine(["10.0.0.1", "forest"], "ssh-ed25519 AAAAC3 root@forest"), "10.0.0.1,forest ssh-ed25519 AAAAC3");
    assert.equal(knownHostsLine(["h"], "ssh-ed25519 K", 2222), "[h]:2222 ssh-ed25519 K");
    assert.throws(() => knownHostsLine(["h"], "garbage"));
  });

  it("hostRunArgv: own address on the rig network, own docker volume, no --privileged", () => {
    const h = hosts[1];
    const argv = hostRunArgv(h, "img", "/state/hosts/forest1", hosts);
    const val = (flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));
    assert.deepEqual(val("--network"), [network.name]);
    assert.deepEqual(val("--ip"), [h.ip]);
    assert.ok(val("--volume").includes(`${h.volume}:/var/lib/docker`));
    assert.ok(val("--cap-drop").includes("SYS_RESOURCE"));
    assert.ok(!argv.includes("--privileged"));
    assert.ok(val("--add-host").includes(`${registry.alias}:${registry.ip}`));
    assert.ok(!val("--add-host").some((a) => a.startsWith(`${h.name}:`)));
    assert.equal(argv.at(-1), "img");
  });

  it("innerDaemonConfig keeps the inner pools off the rig network and DNS on loopback", () => {
    const c = innerDaemonConfig() as any;
    assert.deepEqual(c.dns, ["127.0.0.1"]);
    assert.ok(!String(c.bip).startsWith("10.213."));
    assert.ok(!("insecure-registries" in c));
  });

  it("registryConfigYaml has TLS and htpasswd auth", () => {
    const y = registryConfigYaml();
    assert.match(y, /tls:\n\s+certificate: \/rig\/registry.crt/);
    assert.match(y, /htpasswd:\n\s+realm: wepppy-rig\n\s+path: \/rig\/htpasswd/);
  });

  it("parseDebianMirror reads deb822 and one-line sources", () => {
    const deb822 = "Types: deb\n# http://snapshot\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n";
    assert.equal(parseDebianMirror(deb822), "http://deb.debian.org/debian");
    assert.equal(parseDebianMirror("deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"), "http://mirror.example/debian");
    assert.equal(parseDebianMirror("deb https://deb.nodesource.com/node_20.x nodistro main\n"), undefined);
  });

  it("baseRootfsFiles turns off Valid-Until checks (the mirror is a dated snapshot)", () => {
    assert.match(baseRootfsFiles()["etc/apt/apt.conf.d/99wepppy-rig"], /Check-Valid-Until "false"/);
  });

  it("putFileScript writes atomically with the given mode and rejects bad modes", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rig-put-"));
    const target = path.join(dir, "sub dir", "f'ile");
    execFileSync("sh", ["-c", putFileScript(target, "0600")], { input: "hello" });
    assert.equal(fs.readFileSync(target, "utf8"), "hello");
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.throws(() => putFileScript("/x", "rwx"));
    fs.rmSync(dir, { recursive: true });
  });

  it("buildInputsHash changes with files, build args and the base", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rig-hash-"));
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM x\n");
    const a = buildInputsHash(dir, "sha256:1");
    assert.equal(buildInputsHash(dir, "sha256:1"), a);
    assert.notEqual(buildInputsHash(dir, "sha256:2"), a);
    assert.notEqual(buildInputsHash(dir, "sha256:1", { A: "1" }), a);
    fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM y\n");
    assert.notEqual(buildInputsHash(dir, "sha256:1"), a);
    fs.rmSync(dir, { recursive: true });
  });

  it("standinBuildArgs bakes build id and failure mode, refusing odd ids", () => {
    assert.deepEqual(standinBuildArgs({ build: "b1", failureMode: "slow-start", slowStartSeconds: 5 }), {
      WEPPCLOUD_BUILD: "b1", FAILURE_MODE: "slow-start", SLOW_START_SECONDS: "5",
    });
    assert.throws(() => standinBuildArgs({ build: "a b" }));
  });
});
