import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { HostLayout, hostLayout } from "../../host/contract/layout";
import { AuditRecord, DeployRequest, DeployVerdict, HostStatus } from "../../host/contract/records";
import { DeploySettings, serializeDeploySettings } from "../../host/contract/settings";
import { stageRelease } from "../../host/contract/staging";
import { AGENT_DOCKERFILE, writeAgentBundle } from "../../host/agent/bundle";
import { blueGreenCaddyfile } from "../../render/bluegreen/caddyfile";
import { blueGreenCompose, composeYaml } from "../../render/bluegreen/compose";
import { BLUEGREEN, accessLogPath } from "../../render/bluegreen/constants";
import { renderAgentConf } from "../../render/hostCommands";
import { otherServices, secretsByService } from "../../render/deploySettings";
import { HOST_SCRIPT } from "../../config/paths";

/*
 * A tiny wepppy-shaped compose project (Postgres, Redis, the app as two colours, a worker,
 * Caddy) on this machine's own Docker engine, run by the real agent in its real image
 * through the real bootstrap, as a host runs it. Images are the rig's local stand-ins, used
 * read-only; every name this makes starts with h10-, and cleanup() removes all of it.
 */

export const PREFIX = "h10-agent";

export function docker(args: string[], input?: string): string {
  return execFileSync("docker", args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 }).trim();
}

function firstTag(repository: string): string | undefined {
  return docker(["images", repository, "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").filter((l) => l && !l.endsWith(":<none>"))[0];
}

/** A digest-pinned reference the engine already has (the stand-ins pushed to the rig's registry carry one). */
function pinned(tagged: string): string | undefined {
  try {
    const digests = JSON.parse(docker(["image", "inspect", "--format", "{{json .RepoDigests}}", tagged])) as string[];
    return digests[0];
  } catch {
    return undefined;
  }
}

export interface StandIns {
  base: string;
  postgres: string;
  redis: string;
  caddy: string;
  /** weppcloud builds, digest-pinned: a, b, one answering 5xx, one never healthy. */
  a: string;
  b: string;
  broken: string;
  neverHealthy: string;
}

export function findStandIns(): StandIns | string {
  const base = firstTag("wepppy-rig/base") ? "wepppy-rig/base:bookworm" : undefined;
  const postgres = firstTag("wepppy-rig/postgres");
  const redis = firstTag("wepppy-rig/redis");
  const caddy = firstTag("wepppy-rig/caddy");
  const registry = docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").find((l) => /\/wepppy-rig\/weppcloud:rig-a$/.test(l))?.replace(/:rig-a$/, "");
  const a = registry ? pinned(`${registry}:rig-a`) : undefined;
  const b = registry ? pinned(`${registry}:rig-b`) : undefined;
  const broken = registry ? pinned(`${registry}:rig-healthy-then-5xx`) : undefined;
  const neverHealthy = registry ? pinned(`${registry}:rig-never-healthy`) : undefined;
  if (!base || !postgres || !redis || !caddy || !a || !b || !broken || !neverHealthy) return "the rig's stand-in images are not on this engine (npx wepppy-cicd rig up builds them)";
  return { base, postgres, redis, caddy, a, b, broken, neverHealthy };
}

export function buildAgentImageTag(base: string): string {
  return `${PREFIX}-image:${crypto.createHash("sha256").update(fs.readFileSync(AGENT_DOCKERFILE)).update(base).digest("hex").slice(0, 12)}`;
}

export function buildAgentImage(base: string): string {
  const tag = buildAgentImageTag(base);
  try {
    docker(["image", "inspect", "--format", "{{.Id}}", tag]);
    return tag;
  } catch {
    // not built yet
  }
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-ctx-`));
  try {
    fs.copyFileSync(AGENT_DOCKERFILE, path.join(ctx, "Dockerfile"));
    docker(["build", "-q", "-t", tag, "--build-arg", `BASE=${base}`, ctx]);
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
  return tag;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface ClientRun {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  done: Promise<number>;
}

export class RealHost {
  readonly id = crypto.randomBytes(3).toString("hex");
  readonly project = `${PREFIX}-${this.id}`;
  readonly base = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}-`));
  readonly root = path.join(this.base, "root");
  readonly projectDir = path.join(this.base, "project", "docker");
  readonly layout: HostLayout = hostLayout(this.root, this.projectDir);
  port = 0;
  settings!: DeploySettings;
  private composeDoc!: Record<string, unknown>;
  private caddyfile!: string;

  constructor(
    readonly images: StandIns,
    readonly agentImage: string,
    readonly bluegreen = true,
  ) {}

  /** The compose file the host runs, relative to the project directory. */
  get composeFile(): string {
    return this.bluegreen ? BLUEGREEN.composeFile : "docker-compose.prod.yml";
  }

  private get caddyfilePath(): string {
    return this.bluegreen ? BLUEGREEN.caddyfile : "caddy/Caddyfile";
  }

  async setUp(): Promise<void> {
    this.port = await freePort();
    for (const d of [path.join(this.root, "bin"), path.join(this.root, "etc"), this.layout.releasesDir, path.join(this.projectDir, "secrets")]) fs.mkdirSync(d, { recursive: true });
    fs.copyFileSync(HOST_SCRIPT, this.layout.script);
    writeAgentBundle(this.layout.agentBundle);
    fs.writeFileSync(this.layout.agentConf, renderAgentConf({ image: this.agentImage, mounts: [path.dirname(this.projectDir)], projectDir: this.projectDir }));
    // 0644: the stand-ins read them as their own users; wepppy's hosts get UID:GID 0600 from the root helper.
    fs.writeFileSync(path.join(this.projectDir, "secrets", "postgres_password"), "pg-secret-1", { mode: 0o644 });
    fs.writeFileSync(path.join(this.projectDir, "secrets", "redis_password"), "redis-secret-1", { mode: 0o644 });
    const i = this.images;
    const app = {
      image: "${WEPPCLOUD_IMAGE:?set WEPPCLOUD_IMAGE}",
      env_file: ["${WEPPPY_ENV_FILE:-defaults.env}"],
      environment: { REDIS_PASSWORD_FILE: "/run/secrets/redis_password" },
      secrets: ["redis_password", "postgres_password"],
      healthcheck: { test: ["CMD", "curl", "-fsS", "http://localhost:8000/health"], interval: "2s", timeout: "2s", retries: 3 },
      depends_on: ["postgres", "redis"],
    };
    const single = {
      version: "3.7",
      services: {
        postgres: {
          image: i.postgres,
          environment: { POSTGRES_DB: "wepppy", POSTGRES_USER: "wepppy", POSTGRES_PASSWORD_FILE: "/run/secrets/postgres_password" },
          secrets: ["postgres_password"],
          healthcheck: { test: ["CMD-SHELL", "pg_isready -U $$POSTGRES_USER -d $$POSTGRES_DB"], interval: "2s", retries: 30 },
        },
        redis: {
          image: i.redis,
          command: ["/usr/local/bin/redis-entrypoint.sh"],
          environment: { REDIS_PASSWORD_FILE: "/run/secrets/redis_password" },
          secrets: ["redis_password"],
        },
        weppcloud: app,
        "rq-worker": { image: "${WEPPCLOUD_IMAGE:?set WEPPCLOUD_IMAGE}", command: ["sleep", "infinity"], secrets: ["redis_password"], depends_on: ["redis"] },
        caddy: {
          image: i.caddy,
          ports: [`127.0.0.1:${this.port}:8080`],
          volumes: ["./caddy/Caddyfile:/etc/caddy/Caddyfile:ro"],
          depends_on: ["weppcloud"],
        },
      },
      secrets: { postgres_password: { file: "./secrets/postgres_password" }, redis_password: { file: "./secrets/redis_password" } },
    };
    const caddyfile = "{\n\tauto_https off\n}\n:8080 {\n\treverse_proxy weppcloud:8000\n}\n";
    if (this.bluegreen) {
      this.composeDoc = blueGreenCompose(single, { markerHostDir: this.layout.markerDir, logHostDir: this.layout.accessLogDir, caddyDir: `./${BLUEGREEN.caddyDir}` }).doc;
      this.caddyfile = blueGreenCaddyfile(caddyfile, { accessLog: accessLogPath() }).caddyfile;
    } else {
      this.composeDoc = single;
      this.caddyfile = caddyfile;
    }
    this.settings = {
      version: 1,
      environment: "testprod",
      projectDir: this.projectDir,
      compose: { command: "docker-compose", files: [this.composeFile], project: this.project },
      app: { service: "weppcloud", port: 8000, candidate: true, imageVariable: "WEPPCLOUD_IMAGE" },
      dbService: "postgres",
      redisService: "redis",
      // One colour: few tries, so that the never-healthy build is refused in seconds.
      health: { tries: this.bluegreen ? 40 : 8, intervalSeconds: 2, required: true },
      rollback: "automatic",
      lockWaitSeconds: 0,
      migrate: [],
      smoke: { mode: "pages", url: `http://127.0.0.1:${this.port}`, testSupportUrl: "", pages: ["/weppcloud/"], runConfig: "dev_unit_1", skip: false },
      sitePrefix: "/weppcloud",
      backup: { preDeploy: true, schedule: "none", dir: this.layout.backups, keepCount: 5, keepDays: 7, drill: true },
      stopForRestore: [],
      deployUser: "root",
      runAs: { uid: 0, gid: 0 },
      validate: { enabled: false, runConfigs: [], pages: [], suites: ["create-run", "routes"], routes: [], profiles: [], profileService: "profile-playback", host: "" },
      soak: { seconds: 0, intervalSeconds: 60, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50, accessLog: null },
      secretsByService: secretsByService([this.composeDoc]),
      bluegreen: !this.bluegreen ? null : {
        markerDir: this.layout.markerDir,
        services: { ...BLUEGREEN.services },
        imageVariables: { ...BLUEGREEN.imageVariables },
        liveVariable: BLUEGREEN.liveVariable,
        caddyService: BLUEGREEN.caddyService,
        accessLog: accessLogPath(),
        warmSeconds: 600,
        canary: [],
        analysis: { seconds: 8, intervalSeconds: 1, maxErrorPercent: 5, minRequests: 5, stepSeconds: 4 },
        otherServices: otherServices(this.composeDoc),
      },
    };
  }

  /** Stages a release as the stack does (the files, then the manifest last); returns its key. */
  stage(note = "1"): string {
    const staged = stageRelease(this.layout, {
      project: [
        { path: this.composeFile, content: composeYaml(this.composeDoc) },
        { path: this.caddyfilePath, content: `${this.caddyfile}# release ${note}\n` },
      ],
      settings: serializeDeploySettings(this.settings),
      envTemplate: "SITE_PREFIX=/weppcloud\nWEPPPY_ENV_FILE=.env\n",
    });
    for (const f of staged.files) {
      fs.mkdirSync(path.dirname(f.target), { recursive: true });
      fs.writeFileSync(f.target, f.content);
    }
    return staged.key;
  }

  request(image: string, releaseKey: string, id: string): DeployRequest {
    return { version: 1, action: "deploy", image, releaseKey, release: { id }, who: "h10-test", skipSmoke: false, hotfix: null };
  }

  /** The bootstrap, as SSH runs it: `bash <root>/bin/wepppy-deploy ARGS`, in a process group of its own. */
  client(args: string[], stdin = ""): ClientRun {
    const child = spawn("bash", [this.layout.script, ...args], { stdio: ["pipe", "pipe", "pipe"], detached: true, env: { ...process.env, WEPPPY_DEPLOY_ACTOR: "h10-test" } });
    const run: ClientRun = { child, stdout: "", stderr: "", done: Promise.resolve(0) };
    child.stdout!.on("data", (d) => (run.stdout += d));
    child.stderr!.on("data", (d) => (run.stderr += d));
    run.done = new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    child.stdin!.end(stdin);
    return run;
  }

  async cli(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = this.client(args, stdin);
    const code = await r.done;
    return { code, stdout: r.stdout, stderr: r.stderr };
  }

  async deploy(request: DeployRequest): Promise<{ code: number; verdict: DeployVerdict; stderr: string }> {
    const r = await this.cli(["deploy"], JSON.stringify(request));
    if (process.env.AGENT_TEST_VERBOSE === "1") process.stderr.write(`${r.stderr}${r.stdout}\n`);
    const last = r.stdout.trim().split("\n").pop() ?? "";
    let verdict: DeployVerdict;
    try {
      verdict = JSON.parse(last) as DeployVerdict;
    } catch {
      throw new Error(`no verdict (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
    }
    return { code: r.code, verdict, stderr: r.stderr };
  }

  async status(): Promise<HostStatus> {
    const r = await this.cli(["status"]);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as HostStatus;
  }

  markers(): string[] {
    try {
      return fs.readdirSync(this.layout.markerDir).filter((n) => !n.startsWith(".")).sort();
    } catch {
      return [];
    }
  }

  audit(): AuditRecord[] {
    if (!fs.existsSync(this.layout.auditLog)) return [];
    return fs.readFileSync(this.layout.auditLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  }

  locked(): boolean {
    return fs.existsSync(this.layout.lockDir);
  }

  /**
   * Whether the run has ended within `limitMs`: its lock free and its detached container gone
   * (a run hands its client the verdict, then converges the rest with the lock held, and
   * docker removes its --rm container after it exits).
   */
  async runEnded(limitMs = 60_000): Promise<boolean> {
    const running = () => this.locked() || this.agentContainers().some((n) => n.startsWith(`${this.project}-deploy-`));
    const deadline = Date.now() + limitMs;
    while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    return !running();
  }

  /** Containers of this project, by compose service: image and state. */
  services(): Record<string, { image: string; running: boolean; id: string }> {
    const ids = docker(["ps", "-aq", "--no-trunc", "--filter", `label=com.docker.compose.project=${this.project}`, "--filter", "label=com.docker.compose.oneoff=False"]).split("\n").filter(Boolean);
    if (ids.length === 0) return {};
    const rows = JSON.parse(docker(["inspect", ...ids])) as Array<{ Id: string; Config: { Image: string; Labels: Record<string, string> }; State: { Running: boolean } }>;
    return Object.fromEntries(rows.map((r) => [r.Config.Labels["com.docker.compose.service"], { image: r.Config.Image, running: r.State.Running, id: r.Id }]));
  }

  /** The agent's own containers (detached runs, retires). */
  agentContainers(): string[] {
    return docker(["ps", "-a", "--filter", `name=^${this.project}-`, "--format", "{{.Names}}"]).split("\n").filter(Boolean);
  }

  /** An HTTP GET through Caddy, as a user. */
  get(p: string): string {
    return execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Forwarded-Proto: https", `http://127.0.0.1:${this.port}${p}`], { encoding: "utf8" });
  }

  cleanup(): void {
    for (const name of this.agentContainers()) {
      try {
        docker(["rm", "-f", "-v", name]);
      } catch {
        // gone already
      }
    }
    const file = path.join(this.projectDir, this.composeFile);
    if (fs.existsSync(file)) {
      const env = fs.existsSync(this.layout.envFile) ? this.layout.envFile : fs.existsSync(this.layout.envNext) ? this.layout.envNext : undefined;
      try {
        execFileSync("docker-compose", ["--project-directory", this.projectDir, ...(env ? ["--env-file", env] : []), "-p", this.project, "-f", file, "down", "-v", "--remove-orphans", "-t", "2"], {
          stdio: "pipe",
          env: { ...process.env, WEPPCLOUD_IMAGE: "x", WEPPCLOUD_BLUE_IMAGE: "x", WEPPCLOUD_GREEN_IMAGE: "x", WEPPPY_ENV_FILE: env ?? "/dev/null" },
        });
      } catch (err) {
        process.stderr.write(`cleanup: compose down failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}\n`);
      }
    }
    // Whatever compose down missed (a container of a service no longer in the file).
    for (const id of docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${this.project}`]).split("\n").filter(Boolean)) docker(["rm", "-f", "-v", id]);
    for (const v of docker(["volume", "ls", "-q", "--filter", `label=com.docker.compose.project=${this.project}`]).split("\n").filter(Boolean)) docker(["volume", "rm", v]);
    for (const n of docker(["network", "ls", "-q", "--filter", `label=com.docker.compose.project=${this.project}`]).split("\n").filter(Boolean)) docker(["network", "rm", n]);
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}
