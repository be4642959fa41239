import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inspect } from "node:util";
import {
  composeProjects,
  discoverCommand,
  hostSnapshot,
  parseDiscovery,
  parseProjectFiles,
  pickProject,
  projectFilesCommand,
} from "../../render/adoptCommands";

/*
 * The commands adopt runs on a host, run here under real bash (as sshd's shell runs them) on a
 * directory laid out like a wepppy checkout, with secrets made of every awkward byte. docker
 * itself is a stand-in on PATH (the rig's engine is not touched): it records its arguments and
 * prints what docker inspect prints.
 */

/** As `ssh host COMMAND` runs it: the command line goes through a shell. */
function runLikeSsh(command: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync("bash", ["-c", command], { env, encoding: "utf8", maxBuffer: 1 << 26 });
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe("adopt's host commands", () => {
  let root: string;
  let docker: string;
  const secrets: Record<string, Buffer> = {
    postgres_password: Buffer.from("s3cr3t with spaces\n"),
    redis_password: Buffer.from("$(touch /tmp/adopt-pwned) `id` 'q' \"dq\"\\"),
    binary_blob: ALL_BYTES,
    empty: Buffer.alloc(0),
    "name with\nnewline": Buffer.from("x"),
  };

  before(() => {
    // A hostile directory name: spaces, quotes and a command substitution that must never run.
    root = fs.mkdtempSync(path.join(os.tmpdir(), "adopt 'it's $(touch adopt-pwned) ")); // eslint-disable-line
    const checkout = path.join(root, "wepppy");
    docker = path.join(checkout, "docker");
    fs.mkdirSync(path.join(docker, "secrets", "a-directory"), { recursive: true });
    for (const [name, bytes] of Object.entries(secrets)) fs.writeFileSync(path.join(docker, "secrets", name), bytes, { mode: 0o600 });
    fs.symlinkSync("/etc/hostname", path.join(docker, "secrets", "link-out"));
    fs.writeFileSync(path.join(docker, ".env"), "UID=1000\nSECRET_KEY='k#1 x'\nCAP_SITE_KEY=cap-site-key-7 # the site key\n");
    fs.writeFileSync(path.join(docker, "docker-compose.prod.yml"), "services:\n  weppcloud:\n    image: wepppy:latest\n");
    const git = (...args: string[]) => execFileSync("git", ["-C", checkout, ...args], { stdio: "pipe", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
    git("init", "-q", "-b", "master");
    git("add", "docker/docker-compose.prod.yml");
    git("commit", "-q", "-m", "c");
    git("checkout", "-q", "-b", "feature");
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("reads .env, the compose files and every secret byte for byte, through stdout only", () => {
    const compose = path.join(docker, "docker-compose.prod.yml");
    const missing = path.join(docker, "docker-compose.override.yml");
    const command = projectFilesCommand(docker, [compose, missing]);
    for (const bytes of Object.values(secrets)) if (bytes.length > 3) assert.ok(!command.includes(bytes.toString("latin1")), "a secret is on the command line");
    const files = parseProjectFiles(runLikeSsh(command));
    assert.ok(!fs.existsSync(path.join(os.tmpdir(), "adopt-pwned")) && !fs.existsSync("adopt-pwned"), "a word of the command was run");

    const byName = new Map(files.secrets.map((f) => [path.basename(f.path), f]));
    for (const [name, bytes] of Object.entries(secrets)) {
      const f = byName.get(name);
      assert.ok(f && f.state === "file", `${JSON.stringify(name)} was not read`);
      assert.ok(f.content!.reveal().equals(bytes), `${JSON.stringify(name)} changed on the way`);
      assert.equal(f.mode, "0600");
      assert.equal(f.uid, process.getuid!());
    }
    assert.deepEqual(
      files.secrets.filter((f) => f.state !== "file").map((f) => [path.basename(f.path), f.state, f.why]),
      [["a-directory", "skipped", "not a regular file"], ["link-out", "skipped", "symlink"]],
    );
    assert.equal(files.env.state, "file");
    assert.equal(files.env.content!.reveal().toString(), fs.readFileSync(path.join(docker, ".env"), "utf8"));
    assert.deepEqual(files.compose.map((f) => [f.path, f.state]), [[compose, "file"], [missing, "missing"]]);
    assert.deepEqual({ ...files.checkout, head: files.checkout!.head.length }, { dir: fs.realpathSync(path.join(root, "wepppy")), head: 40, branch: "feature", dirty: 2 });
  });

  it("prints nothing sealed: a snapshot's secrets show as [secret] in JSON and inspect", () => {
    const files = parseProjectFiles(runLikeSsh(projectFilesCommand(docker, [path.join(docker, "docker-compose.prod.yml")])));
    const project = { name: "wepppy", workingDir: docker, configFiles: [path.join(docker, "docker-compose.prod.yml")], services: {} };
    const snap = hostSnapshot("forest1", { containers: [], volumes: [] }, project, files);
    assert.deepEqual(snap.project.configFiles, ["docker-compose.prod.yml"]);
    assert.equal(snap.env.values.reveal().SECRET_KEY, "k#1 x");
    assert.equal(snap.env.values.reveal().CAP_SITE_KEY, "cap-site-key-7");
    assert.ok(snap.secretFiles.postgres_password.content.reveal().equals(secrets.postgres_password));
    for (const text of [JSON.stringify(snap), inspect(snap, { depth: 10 })]) {
      // The fixture commit (40 hex digits) and the temp dir name are in the snapshot: a needle must be one neither can hold by chance.
      for (const needle of ["s3cr3t", "k#1 x", "`id` 'q'", "cap-site-key-7"]) assert.ok(!text.includes(needle), `${needle} is printed`);
    }
  });

  it("refuses an answer that was cut off or tampered with", () => {
    const out = runLikeSsh(projectFilesCommand(docker, []));
    assert.throws(() => parseProjectFiles(out.replace(/end\n$/, "")), /cut off \(no end line\)/);
    const line = out.split("\n").find((l) => l.startsWith("secret\t") && l.split("\t")[2] === "file" && l.split("\t")[7].length > 8)!;
    const shorter = line.replace(/\t[A-Za-z0-9+/=]+$/, "\tAAAA");
    assert.throws(() => parseProjectFiles(out.replace(line, shorter)), /changed while it was read/);
    assert.throws(() => projectFilesCommand("relative/dir", []), /expected an absolute path/);
  });

  describe("discovery (docker stood in for)", () => {
    let bin: string;
    let argsLog: string;
    const labels = (service: string, extra: Record<string, string> = {}) =>
      JSON.stringify({
        "com.docker.compose.project": "wepppy",
        "com.docker.compose.service": service,
        "com.docker.compose.project.working_dir": "/workdir/wepppy/docker",
        "com.docker.compose.project.config_files": "/workdir/wepppy/docker/docker-compose.prod.yml",
        "com.docker.compose.oneoff": "False",
        ...extra,
      });
    before(() => {
      bin = fs.mkdtempSync(path.join(os.tmpdir(), "adopt-bin-"));
      argsLog = path.join(bin, "args.log");
      const inspectLines = [
        ["/wepppy-weppcloud-1", "wepppy:latest", "sha256:" + "a".repeat(64), "running", labels("weppcloud")],
        ["/wepppy-postgres-1", "postgres:16", "sha256:" + "b".repeat(64), "running", labels("postgres")],
        ["/wepppy-weppcloud-run-1", "wepppy:latest", "sha256:" + "a".repeat(64), "exited", labels("weppcloud", { "com.docker.compose.oneoff": "True" })],
        ["/other-app-1", "nginx", "sha256:" + "c".repeat(64), "running", JSON.stringify({ "com.docker.compose.project": "other", "com.docker.compose.service": "app" })],
      ].map((f) => [JSON.stringify(f[0]), JSON.stringify(f[1]), JSON.stringify(f[2]), JSON.stringify(f[3]), f[4]].join("\t"));
      const volumeLines = [
        [JSON.stringify("wepppy_postgres-data"), JSON.stringify({ "com.docker.compose.project": "wepppy", "com.docker.compose.volume": "postgres-data" })],
        [JSON.stringify("scratch"), "null"],
      ].map((f) => f.join("\t"));
      fs.writeFileSync(
        path.join(bin, "docker"),
        [
          "#!/bin/bash",
          `printf '%s\\0' "$@" >>${JSON.stringify(argsLog)}; printf '\\n' >>${JSON.stringify(argsLog)}`,
          'case "$1 $2" in',
          '  "ps -aq") printf "%s\\n" c1 c2 c3 c4 ;;',
          `  "inspect --format") cat <<'EOF'\n${inspectLines.join("\n")}\nEOF\n ;;`,
          '  "volume ls") printf "%s\\n" wepppy_postgres-data scratch ;;',
          `  "volume inspect") cat <<'EOF'\n${volumeLines.join("\n")}\nEOF\n ;;`,
          "  *) exit 3 ;;",
          "esac",
        ].join("\n"),
        { mode: 0o755 },
      );
      fs.writeFileSync(path.join(bin, "getent"), "#!/bin/bash\necho 'docker:x:993:roger'\n", { mode: 0o755 });
    });
    after(() => fs.rmSync(bin, { recursive: true, force: true }));

    it("finds the project as wctl started it, its services, volumes and the docker gid", () => {
      const out = runLikeSsh(discoverCommand(), { ...process.env, PATH: `${bin}:${process.env.PATH}` });
      const d = parseDiscovery(out);
      assert.equal(d.dockerGid, 993);
      const calls = fs.readFileSync(argsLog, "utf8").split("\n").filter(Boolean).map((l) => l.split("\0").filter(Boolean));
      const inspectCall = calls.find((c) => c[0] === "inspect")!;
      assert.deepEqual(inspectCall.slice(-4), ["c1", "c2", "c3", "c4"]);
      assert.doesNotMatch(inspectCall[2], /Env/, "container environments hold older layouts' secrets and are never read");
      const projects = composeProjects(d);
      assert.deepEqual(projects.map((p) => p.name), ["other", "wepppy"]);
      const wepppy = pickProject(projects, { appService: "weppcloud" });
      assert.equal(wepppy.workingDir, "/workdir/wepppy/docker");
      assert.deepEqual(wepppy.configFiles, ["/workdir/wepppy/docker/docker-compose.prod.yml"]);
      assert.deepEqual(Object.keys(wepppy.services), ["weppcloud", "postgres"], "the one-off run container is not a service");
      assert.equal(wepppy.services.weppcloud.name, "wepppy-weppcloud-1");
      const snap = hostSnapshot("forest1", d, wepppy, parseProjectFiles("end\n"));
      assert.deepEqual(snap.volumes, [{ name: "wepppy_postgres-data", composeName: "postgres-data" }]);
      assert.equal(snap.env.present, false);
    });

    it("says which project it cannot choose, or that none runs the app", () => {
      const d = parseDiscovery(runLikeSsh(discoverCommand(), { ...process.env, PATH: `${bin}:${process.env.PATH}` }));
      assert.throws(() => pickProject(composeProjects(d), { appService: "nothing", host: "forest1" }), /no compose project on forest1 runs a nothing service; projects found: other \(1 services\), wepppy \(2 services\)/);
      const twice = [...composeProjects(d), { ...composeProjects(d)[1], name: "wepppy2" }];
      assert.throws(() => pickProject(twice, { appService: "weppcloud" }), /several compose projects run weppcloud \(wepppy, wepppy2\)/);
      assert.equal(pickProject(twice, { appService: "weppcloud", projectName: "wepppy2" }).name, "wepppy2");
      assert.throws(() => parseDiscovery("container\tnot json\n"), /cut off/);
      assert.throws(() => parseDiscovery("container\t{\t1\t2\t3\t4\nend\n"), /not JSON/);
    });
  });
});
