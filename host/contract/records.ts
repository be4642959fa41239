import {
  DIGEST_REF,
  IMAGE_REF,
  PROSE,
  UNIX_USER,
  boolean,
  literal,
  nullable,
  object,
  oneOf,
  optional,
  parseJsonText,
  readDocument,
  required,
  text,
} from "./check";
import { canonicalJson, sha256Hex } from "./digest";
import { RELEASE_KEY } from "./staging";
import { Colour } from "./traffic";

/*
 * What the host says, as types: the audit log's records (JSON lines), the status object,
 * a deploy request and its verdict, progress events, exit codes. Readers take fields;
 * nothing here is prose that a reader must take apart with a regex.
 */

/** Exit codes of every host command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** More than one traffic marker: only a hand edit leaves that. */
  ambiguous: 3,
  /** The lock is held by another run (or a stale lock needs break-lock): try later. */
  locked: 75,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The id prefix of a release `wepppy-cicd rollback` writes: the host and promote tell a rollback by it. */
export const ROLLBACK_RELEASE_PREFIX = "rollback-";

/** A rollback by hand (action rollback) or by the stack (wepppy-cicd rollback's release id). */
export function isRollbackRequest(r: Pick<DeployRequest, "action" | "release">): boolean {
  return r.action === "rollback" || Boolean(r.release?.id.startsWith(ROLLBACK_RELEASE_PREFIX));
}

/** The release an update carries (written by the release CLI); recorded with every deploy. */
export interface ReleaseRecord {
  id: string;
  tag?: string;
  version?: string;
  actor?: string;
  note?: string;
}

/** The steps of a deploy, in order; a progress event, a checkpoint and a failed verdict each name one. */
export const PHASES = [
  "lock",
  "stage",
  "backup",
  "pull",
  "migrate",
  "candidate",
  "up",
  "gate",
  "caddy",
  "canary",
  "switch",
  "smoke",
  "analysis",
  "switch-back",
  "converge",
  "finish",
  "recover",
] as const;
export type Phase = (typeof PHASES)[number];

export type AuditAction = "deploy" | "rollback" | "backup" | "restore" | "validate" | "retire" | "break-lock" | "build" | "soak" | "drill" | "converge";
export type AuditResult = "ok" | "failed" | "refused" | "skipped" | "interrupted";

/** A service recreated because a secret file it mounts changed (names of files, never values). */
export interface Recreated {
  service: string;
  secrets: string[];
}

/** One line of <root>/audit.log. */
export interface AuditRecord {
  time: string;
  env: string;
  host: string;
  who: string;
  action: AuditAction;
  result: AuditResult;
  /** The image the action concerns: the release's, or the live one ("" when none). */
  image: string;
  /** sha256:... of a digest-pinned image, else "". */
  digest: string;
  release: { id: string | null; tag: string | null; version: string | null } | null;
  /** Wall time of the action. */
  seconds: number;
  runId?: string;
  /** Where a failed or interrupted run stopped. */
  phase?: Phase;
  /** Why it failed or was refused, one line (may quote the app's log tail). */
  reason?: string;
  /** Which gate refused: app, postgres, redis, caddy, smoke, analysis, candidate, migration, backup. */
  gate?: string;
  /**
   * The refused container's last log lines, in a file on the host (<root>/logs/): the app's log
   * may quote secrets or users' data, and records and verdicts reach CI logs and the webhook.
   */
  logFile?: string;
  /** Milliseconds from the start of the run to traffic on the new colour. */
  switchMs?: number;
  /** Blue/green: the image was already running on that colour (a rollback within warmSeconds): only traffic moved. */
  warm?: boolean;
  /** Milliseconds from the switch to traffic back on the old colour (an automatic switch back). */
  backMs?: number;
  /** Traffic before and after (state ids). */
  from?: string;
  to?: string;
  live?: Colour;
  images?: Record<Colour, string>;
  recreated?: Recreated[];
  backup?: { file: string; bytes: number };
  analysis?: { requests: number; errors: number };
  skipSmoke?: boolean;
  hotfix?: string;
  note?: string;
  /** backup, restore, verify: the dump; restore --into: the scratch database. */
  file?: string;
  into?: string;
  /** The release files that are current after the action. */
  releaseKey?: string;
  /** break-lock: the holder removed. */
  holder?: LockHolder;
  /**
   * The image traffic was taken away from because it went bad or was rolled back: a switch
   * back, an automatic or by-hand rollback. A promotion refuses such a digest unless forced.
   */
  rolledBack?: string;
  /** validate: one suite's evidence (one record per suite). */
  evidence?: SuiteEvidence;
  /** soak: the soak of a release, with its verdict. */
  soak?: SoakRecord;
  /** drill: a restore drill of a dump. */
  drill?: DrillRecord;
}

// --- evidence: what a promotion requires of the source stack's live digest -------------

/** The validation suites a stack can declare (promotion.suites). */
export const SUITES = ["create-run", "routes", "profile-playback"] as const;
export type Suite = (typeof SUITES)[number];

export interface EvidenceCheck {
  name: string;
  ok: boolean;
  /** One line: what was asked and what answered (never a secret, never a body longer than a snippet). */
  detail: string;
  /** Who answered: a stand-in's build (its X-Weppcloud-Build header), else "app". */
  answeredBy?: string;
}

/** One suite's run against the live release: kept in the audit log (action validate). */
export interface SuiteEvidence {
  version: 1;
  suite: Suite;
  /** passed: every check ok; failed: one is not; unavailable: the stack cannot run the suite (its service is absent, the API off). */
  result: "passed" | "failed" | "unavailable";
  image: string;
  /** sha256:... of a digest-pinned image, else "". */
  digest: string;
  started: string;
  finished: string;
  checks: EvidenceCheck[];
  /** Where the checks went: Caddy's URL, the Host header sent, and what served (the app service, its colour). */
  where: { url: string; host: string; service: string; colour: Colour | null };
  /** The answerers seen, distinct: stand-in builds, or "app". */
  answeredBy: string[];
}

export type SoakVerdict = "passed" | "failed" | "interrupted";

/** The soak of a release after its deploy: Caddy's 5xx share, the app's error keys in Redis, every service's health. */
export interface SoakRecord {
  version: 1;
  image: string;
  digest: string;
  /** The deploy run that started it. */
  runId: string | null;
  started: string;
  finished: string;
  plannedSeconds: number;
  observedSeconds: number;
  /** The whole planned time was observed. */
  complete: boolean;
  samples: number;
  /** Requests and 5xx answers in Caddy's access log during the soak; null without an access log. */
  requests: number | null;
  errors: number | null;
  errorPercent: number | null;
  /** Keys matching the pattern across Redis' databases: at the start, the most seen, and how many more than at the start. */
  appErrors: { pattern: string; atStart: number | null; max: number | null; added: number | null };
  /** Per service: samples taken and how many found it down or unhealthy. */
  health: Array<{ service: string; samples: number; bad: number }>;
  limits: { maxErrorPercent: number; minRequests: number; maxAppErrors: number };
  verdict: SoakVerdict;
  /** Why it failed or was interrupted, one line each. */
  reasons: string[];
}

/** A soak that is still running (status): what it has seen so far. */
export interface SoakProgress {
  image: string;
  digest: string;
  runId: string | null;
  started: string;
  ends: string;
  observedSeconds: number;
  plannedSeconds: number;
  samples: number;
  requests: number | null;
  errors: number | null;
  appErrorsAdded: number | null;
  unhealthy: string[];
}

/** A restore drill: a dump restored into a scratch database and compared with the live one. */
export interface DrillRecord {
  version: 1;
  file: string;
  bytes: number;
  /** When the dump was written (its file's time). */
  dumpTime: string;
  started: string;
  finished: string;
  seconds: number;
  /** The scratch database (dropped afterwards). */
  scratch: string;
  result: "passed" | "failed";
  reason?: string;
  tables: number;
  rows: { live: number; restored: number };
  /** Tables whose counts differ (writes since the dump, or a bad restore), at most 20. */
  differing: Array<{ table: string; live: number | null; restored: number | null }>;
  /** The newest timestamp of any row. */
  newest: { live: string | null; restored: string | null };
  /** Every table's count equal. */
  equal: boolean;
}

/** What `status` says of the live digest's evidence. */
export interface EvidenceSummary {
  digest: string;
  suites: Array<{ suite: Suite; result: SuiteEvidence["result"]; finished: string; failed: string[] }>;
  soak: { verdict: SoakVerdict | "running"; started: string; finished: string | null; observedSeconds: number; plannedSeconds: number; requests: number | null; errors: number | null; errorPercent: number | null; appErrorsAdded: number | null; reasons: string[] } | null;
  /** This digest was rolled back (or switched back from) on this host. */
  rolledBack: boolean;
  /** The newest restore drills on this host, newest first (at most 3). */
  drills: DrillRecord[];
}

/** <root>/lock/holder.json: who holds the lock, and how to tell whether it still runs. */
export interface LockHolder {
  who: string;
  action: string;
  since: string;
  /** Host pid (the agent runs with the host's pid namespace) and its start time in clock ticks. */
  pid: number;
  start: number;
  /** /proc/sys/kernel/random/boot_id: a holder from before a reboot is dead whatever its pid. */
  bootId: string;
  runId?: string;
  requestId?: string;
  /** The detached container that runs the deploy (alive while it runs, whatever pid was recorded). */
  container?: string;
  /** Set once the run is judged and only converges the other services: a new deploy waits for it as for a retire. */
  converging?: boolean;
}

export type LockState = "unlocked" | "held" | "stale";

/** Written into the lock by a rollback that finds a judged release converging: that run stops converging and lets go. */
export interface PreemptRequest {
  requestId: string;
  who: string;
  since: string;
}

/** A deploy request: what must be live. The host decides colours from what it finds. */
export interface DeployRequest {
  version: 1;
  /** deploy, or a one-colour rollback to an earlier release. */
  action: "deploy" | "rollback";
  /** The image that must be live (digest-pinned for blue/green); null: the compose files' own (a host build). */
  image: string | null;
  /** The staged release's key: <root>/releases/<key>/. */
  releaseKey: string;
  release: ReleaseRecord | null;
  who: string;
  skipSmoke: boolean;
  /** Set when prod runs an image testprod has not run. */
  hotfix: string | null;
}

const releaseRecord = object<ReleaseRecord>({
  id: required(text(/^[A-Za-z0-9._:-]{1,64}$/, "a release id ([A-Za-z0-9._:-], at most 64)")),
  tag: optional(text(/^prod-[0-9]{8}-[0-9]{6}$/, "prod-YYYYMMDD-HHMMSS"), undefined),
  version: optional(text(/^[0-9]{4}\.[0-9]{2}\.[0-9]{1,4}$/, "YYYY.MM.PATCH"), undefined),
  actor: optional(text(UNIX_USER, "a Unix user name"), undefined),
  note: optional(text(PROSE, "plain text"), undefined),
});

const readRequest = object<DeployRequest>({
  version: required(literal(1)),
  action: optional(oneOf(["deploy", "rollback"] as const), "deploy"),
  image: required(nullable(text(IMAGE_REF, "an image reference"))),
  releaseKey: required(text(RELEASE_KEY, "a release key (16 hex digits)")),
  release: optional(nullable(releaseRecord), null),
  who: optional(text(/^[A-Za-z0-9_.@-]{1,64}$/, "a user name"), "unknown"),
  skipSmoke: optional(boolean, false),
  hotfix: optional(nullable(text(PROSE, "plain text")), null),
});

export function parseDeployRequest(value: unknown, source = "deploy request"): DeployRequest {
  const r = readDocument(readRequest, value, source);
  // JSON drops undefined: optional release fields come back absent, not undefined.
  return JSON.parse(JSON.stringify(r)) as DeployRequest;
}

export function readDeployRequestText(textValue: string, source = "deploy request"): DeployRequest {
  return parseDeployRequest(parseJsonText(textValue, source), source);
}

/** The identity of a request: equal requests are one deploy (a reconnect attaches instead of starting another). */
export function requestId(r: DeployRequest): string {
  return sha256Hex(canonicalJson(r)).slice(0, 16);
}

export function isDigestPinned(ref: string | null | undefined): boolean {
  return typeof ref === "string" && DIGEST_REF.test(ref);
}

/** `sha256:...` of a digest-pinned reference, or "". */
export function digestOfRef(ref: string | null | undefined): string {
  const m = /@(sha256:[0-9a-f]{64})$/.exec(ref ?? "");
  return m ? m[1] : "";
}

export type VerdictResult = "ok" | "failed" | "refused" | "interrupted";

/** What a deploy ends with: printed as JSON on stdout by the attached client, kept in the run's directory. */
export interface DeployVerdict {
  version: 1;
  runId: string;
  requestId: string;
  action: "deploy" | "rollback";
  result: VerdictResult;
  ok: boolean;
  /** The image the request asked for. */
  image: string;
  release: ReleaseRecord | null;
  /** The release files that are current now (the request's on success, the live release's otherwise). */
  releaseKey: string | null;
  /** Blue/green: the colour serving now, and what each colour runs. */
  live: Colour | null;
  images: Record<Colour, string> | null;
  /** The image serving now (the request's on success; the previous one after a failure). */
  liveImage: string;
  /** Where a failed run stopped, and why (one line). */
  phase?: Phase;
  reason?: string;
  gate?: string;
  logFile?: string;
  /** One line for a human. */
  message: string;
  recreated: Recreated[];
  switchMs?: number;
  /** Blue/green: only traffic moved (the image was warm on that colour). */
  warm?: boolean;
  backMs?: number;
  backup?: { file: string; bytes: number };
  seconds: number;
  finishedAt: string;
}

/** One line of a run's events.jsonl; the client prints it on stderr (human readable, or as is with --json-progress). */
export interface ProgressEvent {
  time: string;
  runId: string;
  phase: Phase;
  level: "info" | "warn" | "error";
  message: string;
}

export interface ColourStatus {
  service: string;
  image: string;
  running: boolean;
  /** Docker's health of the container: healthy, unhealthy, starting, none, or missing (no container). */
  health: string;
}

/** `wepppy-deploy status`: one JSON object. */
export interface HostStatus {
  env: string;
  host: string;
  time: string;
  liveImage: string;
  /** The current release's files and record. */
  current: { releaseKey: string; image: string; release: ReleaseRecord | null; since: string } | null;
  lock: { state: LockState; holder: LockHolder | null };
  /** A deploy that is running now (attach to it with `attach <runId>`). */
  run: { runId: string; requestId: string; phase: Phase; startedAt: string } | null;
  /** The newest verdict on this host. */
  lastVerdict: DeployVerdict | null;
  /** The newest dump, and whether it was verified (its backup record says it read back whole). */
  lastBackup: { file: string; bytes: number; time: string; verified: boolean | null } | null;
  /** The newest backup attempt, whatever its result (a failed scheduled backup shows here). */
  lastBackupAttempt: AuditRecord | null;
  /** The newest successful deploy. */
  lastDeploy: AuditRecord | null;
  /** The newest deploy or rollback attempt, whatever its result. */
  lastAttempt: AuditRecord | null;
  /** sha256:... of the live image ("" when it is not digest-pinned). */
  liveDigest: string;
  /** The app's own /health (inside its container: Caddy answers /health itself), probed now. */
  appHealth: { service: string; container: string; url: string; ok: boolean } | null;
  /** A soak that is running now. */
  soak: SoakProgress | null;
  /** The live digest's evidence. */
  evidence: EvidenceSummary;
  bluegreen: {
    traffic: string;
    live: Colour | null;
    colours: Record<Colour, ColourStatus>;
    warmSeconds: number;
    /** When a warm colour is due to stop. */
    retireAt: Partial<Record<Colour, string>>;
  } | null;
}
