import { DrillRecord, EvidenceSummary, SUITES, SoakRecord, Suite, SuiteEvidence, digestOfRef } from "./records";

/*
 * Promotion evidence, read back from audit records: one rule, used by the agent's status
 * (what the live digest has) and by the operator's promote (what it refuses without). The
 * readers are lenient about keys they do not know (a newer agent may add some) and strict
 * about the ones a judgement reads: a record that does not have them is evidence of nothing.
 */

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isTime = (v: unknown): v is string => isString(v) && !Number.isNaN(Date.parse(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const numberOrNull = (v: unknown) => v === null || isNumber(v);

export function asSuiteEvidence(v: unknown): SuiteEvidence | undefined {
  if (!isObject(v) || v.version !== 1) return undefined;
  if (!(SUITES as readonly unknown[]).includes(v.suite) || !["passed", "failed", "unavailable"].includes(String(v.result))) return undefined;
  if (!isString(v.digest) || !isString(v.image) || !isTime(v.started) || !isTime(v.finished) || !Array.isArray(v.checks)) return undefined;
  if (!v.checks.every((c) => isObject(c) && isString(c.name) && typeof c.ok === "boolean" && isString(c.detail))) return undefined;
  // A passed suite with a failing (or no) check is not one.
  if (v.result === "passed" && (v.checks.length === 0 || !v.checks.every((c) => (c as { ok: boolean }).ok))) return undefined;
  return v as unknown as SuiteEvidence;
}

export function asSoakRecord(v: unknown): SoakRecord | undefined {
  if (!isObject(v) || v.version !== 1) return undefined;
  if (!isString(v.digest) || !isTime(v.started) || !isTime(v.finished) || !isNumber(v.plannedSeconds) || !isNumber(v.observedSeconds)) return undefined;
  if (typeof v.complete !== "boolean" || !["passed", "failed", "interrupted"].includes(String(v.verdict))) return undefined;
  if (!numberOrNull(v.requests) || !numberOrNull(v.errors) || !numberOrNull(v.errorPercent) || !isObject(v.appErrors) || !numberOrNull(v.appErrors.added)) return undefined;
  if (!Array.isArray(v.health) || !Array.isArray(v.reasons)) return undefined;
  return v as unknown as SoakRecord;
}

export function asDrillRecord(v: unknown): DrillRecord | undefined {
  if (!isObject(v) || v.version !== 1) return undefined;
  if (!isString(v.file) || !isNumber(v.bytes) || !isTime(v.finished) || !["passed", "failed"].includes(String(v.result))) return undefined;
  if (!isObject(v.rows) || !isNumber(v.rows.live) || !isNumber(v.rows.restored) || !Array.isArray(v.differing)) return undefined;
  return v as unknown as DrillRecord;
}

/** An audit record as read back: an AuditRecord, or whatever a host's line held. */
type Entry = object;
const fields = (r: Entry) => r as Record<string, unknown>;

const newestFirst = <T extends { finished: string }>(xs: T[]) => [...xs].sort((a, b) => Date.parse(b.finished) - Date.parse(a.finished));

/** Suite evidence in audit records, newest first; of one digest when given. */
export function suiteEvidence(records: readonly Entry[], digest?: string): SuiteEvidence[] {
  const out = records.map(fields).filter((r) => r.action === "validate").map((r) => asSuiteEvidence(r.evidence)).filter((e): e is SuiteEvidence => e !== undefined);
  return newestFirst(digest === undefined ? out : out.filter((e) => e.digest === digest));
}

export function soakRecords(records: readonly Entry[], digest?: string): SoakRecord[] {
  const out = records.map(fields).filter((r) => r.action === "soak").map((r) => asSoakRecord(r.soak)).filter((e): e is SoakRecord => e !== undefined);
  return newestFirst(digest === undefined ? out : out.filter((e) => e.digest === digest));
}

export function drillRecords(records: readonly Entry[]): DrillRecord[] {
  return newestFirst(records.map(fields).filter((r) => r.action === "drill").map((r) => asDrillRecord(r.drill)).filter((e): e is DrillRecord => e !== undefined));
}

/** Whether an audit log says traffic was taken away from this digest (a switch back, a rollback). */
export function wasRolledBack(records: readonly Entry[], digest: string): Record<string, unknown> | undefined {
  return [...records].map(fields).reverse().find((r) => isString(r.rolledBack) && r.rolledBack !== "" && (digestOfRef(r.rolledBack) === digest || r.rolledBack === digest));
}

/** sha256:0123456789ab: enough to tell digests apart in a sentence. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

export interface SourceRequirements {
  /** Suites whose newest evidence for the digest within the window must have passed. */
  suites: readonly Suite[];
  windowHours: number;
  /** The soak the digest must have completed; 0: none required. */
  soakSeconds: number;
  maxErrorPercent: number;
  maxAppErrors: number;
}

export interface Judgement {
  /** One line per thing missing, naming it. */
  missing: string[];
  /** What each missing line is about, in a few words (suite create-run, soak, restore drill, rolled back). */
  what: string[];
  /** One line per piece of evidence found. */
  found: string[];
}

const CLOCK_SKEW_MS = 5 * 60 * 1000;

function hoursText(seconds: number): string {
  const h = seconds / 3600;
  return h >= 1 ? `${Number(h.toFixed(2))} h` : `${Math.round(seconds / 60)} min`;
}

/**
 * What the source stack's audit log says of a digest: every required suite's newest run
 * within the window passed, and its newest soak is complete, passed, and under these limits
 * (the limits of the stack promoted to, which may be stricter than the source's own).
 */
export function judgeSource(records: readonly Entry[], digest: string, now: Date, req: SourceRequirements, source: string): Judgement {
  const out: Judgement = { missing: [], what: [], found: [] };
  const d = shortDigest(digest);
  const inWindow = (time: string) => {
    const age = now.getTime() - Date.parse(time);
    return age <= req.windowHours * 3600_000 && age >= -CLOCK_SKEW_MS;
  };
  const evidence = suiteEvidence(records, digest);
  for (const suite of req.suites) {
    const ofSuite = evidence.filter((e) => e.suite === suite);
    const newest = ofSuite.find((e) => inWindow(e.finished));
    if (!newest || newest.result !== "passed") out.what.push(`suite ${suite}`);
    if (!newest) {
      out.missing.push(ofSuite[0] ? `suite ${suite}: its newest run for ${d} on ${source} (${ofSuite[0].finished}) is older than ${req.windowHours} h` : `suite ${suite}: no run for ${d} on ${source}`);
    } else if (newest.result !== "passed") {
      const failed = newest.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`.slice(0, 160));
      out.missing.push(`suite ${suite}: ${newest.result} for ${d} on ${source} at ${newest.finished}${failed.length ? ` (${failed.slice(0, 3).join("; ")})` : ""}`);
    } else {
      out.found.push(`suite ${suite} passed for ${d} on ${source} at ${newest.finished} (${newest.checks.length} checks, answered by ${newest.answeredBy.join(", ") || "?"})`);
    }
  }
  if (req.soakSeconds > 0) {
    const soak = soakRecords(records, digest)[0];
    if (!soak) {
      out.what.push("soak");
      out.missing.push(`soak: no completed soak of ${d} on ${source} (a soak of ${hoursText(req.soakSeconds)} is required; a running one shows in wepppy-cicd status --stack ${source})`);
    } else {
      const why: string[] = [];
      if (soak.verdict !== "passed") why.push(`${soak.verdict}${soak.reasons.length ? `: ${soak.reasons.join("; ")}` : ""}`);
      if (!soak.complete || soak.observedSeconds + 60 < req.soakSeconds) why.push(`observed ${hoursText(soak.observedSeconds)} of the ${hoursText(req.soakSeconds)} required`);
      if (soak.requests === null || soak.errors === null) why.push("no 5xx share measured (no Caddy access log)");
      else if (soak.requests >= soak.limits.minRequests && soak.errors * 100 > req.maxErrorPercent * soak.requests) {
        why.push(`${soak.errors} of ${soak.requests} requests answered 5xx (${soak.errorPercent ?? "?"} %, over promotion.maxErrorPercent ${req.maxErrorPercent} %)`);
      }
      if (soak.appErrors.added !== null && soak.appErrors.added > req.maxAppErrors) why.push(`${soak.appErrors.added} new ${soak.appErrors.pattern} keys in Redis (over ${req.maxAppErrors})`);
      if (why.length > 0) out.what.push("soak");
      if (why.length > 0) out.missing.push(`soak of ${d} on ${source} (${soak.started} to ${soak.finished}): ${why.join("; ")}`);
      else out.found.push(`soak of ${d} on ${source} passed: ${hoursText(soak.observedSeconds)}, ${soak.errors} of ${soak.requests} requests 5xx, ${soak.appErrors.added ?? "?"} new error keys`);
    }
  }
  return out;
}

export interface TargetRequirements {
  /** A passed drill within this many hours; 0: none required. */
  drillHours: number;
}

/** What the target stack's own audit log says: a passed restore drill recently enough, and that the digest was never rolled back there. */
export function judgeTarget(records: readonly Entry[], digest: string, now: Date, req: TargetRequirements, target: string): Judgement & { rolledBack?: Record<string, unknown>; drillStale: boolean } {
  const out: Judgement & { rolledBack?: Record<string, unknown>; drillStale: boolean } = { missing: [], what: [], found: [], drillStale: false };
  if (req.drillHours > 0) {
    const drills = drillRecords(records);
    // The newest drill decides: a failed one (a dump that no longer restores) blocks until one passes again.
    const newest = drills[0];
    const fresh = newest && now.getTime() - Date.parse(newest.finished) <= req.drillHours * 3600_000;
    if (newest && fresh && newest.result === "passed") {
      out.found.push(`restore drill passed on ${target} at ${newest.finished} (${newest.file}, ${newest.tables} tables, ${newest.rows.restored} rows${newest.equal ? ", counts equal to live" : ""})`);
    } else {
      // None, or too old: `promote` may run one now (a recent failed drill it does not retry: that dump fails).
      out.drillStale = !newest || !fresh;
      out.what.push("restore drill");
      out.missing.push(
        !newest
          ? `restore drill: none on ${target} (one within backup.drillHours = ${req.drillHours} h is required)`
          : newest.result === "passed"
            ? `restore drill: the newest on ${target} passed at ${newest.finished}, older than backup.drillHours = ${req.drillHours} h`
            : `restore drill: the newest on ${target} failed at ${newest.finished}: ${newest.reason ?? "?"}`,
      );
    }
  }
  const back = wasRolledBack(records, digest);
  if (back) {
    out.rolledBack = back;
    out.what.push(`rolled back on ${target}`);
    out.missing.push(`${shortDigest(digest)} was rolled back on ${target} at ${String(back.time)} (${String(back.action)}${back.reason ? `: ${String(back.reason).slice(0, 120)}` : ""})`);
  }
  return out;
}

/** The live digest's evidence as `status` shows it. */
export function evidenceSummary(records: readonly Entry[], digest: string, running: EvidenceSummary["soak"]): EvidenceSummary {
  const evidence = suiteEvidence(records, digest);
  const suites = SUITES.map((suite) => evidence.find((e) => e.suite === suite))
    .filter((e): e is SuiteEvidence => e !== undefined)
    .map((e) => ({ suite: e.suite, result: e.result, finished: e.finished, failed: e.checks.filter((c) => !c.ok).map((c) => c.name) }));
  const last = soakRecords(records, digest)[0];
  const soak: EvidenceSummary["soak"] =
    running ??
    (last
      ? {
          verdict: last.verdict,
          started: last.started,
          finished: last.finished,
          observedSeconds: last.observedSeconds,
          plannedSeconds: last.plannedSeconds,
          requests: last.requests,
          errors: last.errors,
          errorPercent: last.errorPercent,
          appErrorsAdded: last.appErrors.added,
          reasons: last.reasons,
        }
      : null);
  return { digest, suites, soak, rolledBack: digest !== "" && wasRolledBack(records, digest) !== undefined, drills: drillRecords(records).slice(0, 3) };
}
