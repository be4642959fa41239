import { SuiteEvidence, asSuiteEvidence } from "../host/contract";
import type { HostAccess } from "./hostAccess";
import { validateCommand } from "../render/hostCommands";
import { RemoteResult, runRemote } from "./ssh";

/*
 * `wepppy-cicd validate`: the stack's validation suites run on its host now, against what
 * is live (wepppy-deploy validate --json), each recorded there as evidence in the audit log,
 * where `promote` finds it. The host prints the evidence; this reads it back as the
 * contract's records and says which suites passed, failed or could not run.
 */

export interface ValidateResult {
  action: "validate";
  stack: string;
  /** No suite failed (an unavailable suite is reported; whether it was required is promote's to judge). */
  ok: boolean;
  summary: string;
  image?: string;
  digest?: string;
  suites: Array<{ suite: string; result: SuiteEvidence["result"]; failed: string[] }>;
  evidence: SuiteEvidence[];
  error?: string;
}

export interface ValidateOptions {
  stack: string;
  host: HostAccess;
  log?: (line: string) => void;
  /** How a command reaches the host (the real one: OpenSSH). */
  run?: (access: HostAccess, command: string, onStderrLine: (line: string) => void) => Promise<RemoteResult>;
}

/** The host's --json line: the evidence, each record checked as the contract reads it. */
export function parseValidateOutput(stdout: string): { image: string; digest: string; ok: boolean; evidence: SuiteEvidence[] } {
  const line = stdout.trim().split("\n").filter(Boolean).pop() ?? "";
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`wepppy-deploy validate printed no JSON object: ${line.slice(0, 200) || "(nothing)"}`);
  }
  const o = v as { image?: unknown; digest?: unknown; ok?: unknown; evidence?: unknown };
  if (typeof o !== "object" || o === null || !Array.isArray(o.evidence) || typeof o.ok !== "boolean") throw new Error("wepppy-deploy validate printed an object without evidence");
  const evidence = o.evidence.map((e, i) => {
    const read = asSuiteEvidence(e);
    if (!read) throw new Error(`wepppy-deploy validate: evidence record ${i + 1} is not one the contract reads`);
    return read;
  });
  return { image: String(o.image ?? ""), digest: String(o.digest ?? ""), ok: o.ok, evidence };
}

export async function validate(options: ValidateOptions): Promise<ValidateResult> {
  const log = options.log ?? (() => undefined);
  const run = options.run ?? ((access, command, onLine) => runRemote(access.connection, command, undefined, onLine));
  const result: ValidateResult = { action: "validate", stack: options.stack, ok: false, summary: "", suites: [], evidence: [] };
  const r = await run(options.host, validateCommand(options.host.layout), (line) => log(`  ${options.stack}: ${line.replace(/^\[wepppy-deploy\] /, "")}`));
  let parsed: ReturnType<typeof parseValidateOutput>;
  try {
    parsed = parseValidateOutput(r.stdout);
  } catch (err) {
    const why = (err as Error).message;
    result.error = `${why}${r.code !== 0 ? ` (exit ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" ")})` : ""}`;
    result.summary = `${options.stack}: validation did not run: ${result.error.split("\n")[0]}`;
    return result;
  }
  result.image = parsed.image;
  result.digest = parsed.digest;
  result.evidence = parsed.evidence;
  result.suites = parsed.evidence.map((e) => ({ suite: e.suite, result: e.result, failed: e.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`) }));
  result.ok = parsed.ok && parsed.evidence.every((e) => e.result !== "failed");
  const by = (what: SuiteEvidence["result"]) => result.suites.filter((s) => s.result === what).map((s) => s.suite);
  const parts = [`passed: ${by("passed").join(", ") || "none"}`, ...(by("failed").length ? [`FAILED: ${by("failed").join(", ")}`] : []), ...(by("unavailable").length ? [`unavailable: ${by("unavailable").join(", ")}`] : [])];
  result.summary = `${options.stack}: validation of ${parsed.image || "(no live image)"}: ${parts.join("; ")}`;
  if (result.suites.length === 0) result.summary = `${options.stack}: no validation suites are declared (promotion.suites)`;
  return result;
}
