import { parse } from "yaml";

/*
 * GitHub Actions workflows as the repository receives them (a RepositoryFile's content):
 * the actions they run, and the check names their jobs report.
 */

export const WORKFLOW_FILE = /^\.github\/workflows\/[^/]+\.ya?ml$/;
export const ACTION_FILE = /^\.github\/actions\/.+\/action\.ya?ml$/;

export interface ActionUse {
  /** "job build, step 3 (Check out)" or "job deploy (reusable workflow)". */
  where: string;
  uses: string;
}

type Doc = Record<string, unknown>;

/** The YAML document, or an error saying why it is not one. */
export function readWorkflow(content: string): { doc?: Doc; error?: string } {
  try {
    const doc = parse(content);
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { error: "is not a YAML mapping" };
    return { doc: doc as Doc };
  } catch (err) {
    return { error: `is not valid YAML (${err instanceof Error ? err.message.split("\n")[0] : String(err)})` };
  }
}

function stepUses(steps: unknown, where: string): ActionUse[] {
  if (!Array.isArray(steps)) return [];
  return steps.flatMap((step, i) => {
    const s = (step ?? {}) as Doc;
    if (typeof s.uses !== "string") return [];
    const name = typeof s.name === "string" ? ` (${s.name})` : "";
    return [{ where: `${where}step ${i + 1}${name}`, uses: s.uses }];
  });
}

/** Every `uses:` of a workflow (jobs' steps, reusable workflow calls) or of a composite action (runs.steps). */
export function actionUses(doc: Doc): ActionUse[] {
  const out: ActionUse[] = [];
  const jobs = (doc.jobs ?? {}) as Record<string, Doc>;
  for (const [id, job] of Object.entries(jobs)) {
    if (typeof job?.uses === "string") out.push({ where: `job ${id} (reusable workflow)`, uses: job.uses });
    out.push(...stepUses(job?.steps, `job ${id}, `));
  }
  const runs = doc.runs as Doc | undefined;
  if (runs) out.push(...stepUses(runs.steps, ""));
  return out;
}

const FULL_SHA = /^[0-9a-f]{40}$/;
const IMAGE_DIGEST = /@sha256:[0-9a-f]{64}$/;

/**
 * Why a `uses:` is not pinned to something immutable, or undefined when it is: a full
 * commit SHA for an action or a reusable workflow, a digest for a docker:// image. A local
 * action (./...) runs from the same commit as the workflow itself.
 */
export function pinProblem(uses: string): string | undefined {
  if (uses.startsWith("./")) return undefined;
  if (uses.startsWith("docker://")) {
    return IMAGE_DIGEST.test(uses) ? undefined : `runs the image ${uses.slice("docker://".length)} by tag: pin it to its digest (docker://<image>@sha256:<digest>)`;
  }
  const at = uses.lastIndexOf("@");
  if (at < 0) return `names no version: pin it to a commit SHA (${uses}@<40-hex commit>)`;
  const action = uses.slice(0, at);
  const ref = uses.slice(at + 1);
  if (FULL_SHA.test(ref)) return undefined;
  const repo = action.split("/").slice(0, 2).join("/");
  const how = /^[0-9a-f]{7,39}$/.test(ref)
    ? `is pinned by an abbreviated SHA ${ref}: use the full 40-hex commit`
    : `is pinned by the tag or branch "${ref}", which can be moved`;
  return `${how}: pin ${action} to the commit SHA of ${ref} (git ls-remote https://github.com/${repo} '${ref}^{}' '${ref}') and keep "# ${ref}" as a comment`;
}

/**
 * The check names a workflow's jobs report: a job's `name:` or else its id. A job with a
 * matrix or one that calls a reusable workflow reports names that depend on what it runs,
 * which cannot be read from the file: those come back as problems.
 */
export function checkNames(doc: Doc): { names: string[]; problems: string[] } {
  const names: string[] = [];
  const problems: string[] = [];
  for (const [id, job] of Object.entries((doc.jobs ?? {}) as Record<string, Doc>)) {
    if ((job?.strategy as Doc | undefined)?.matrix !== undefined) {
      problems.push(`job ${id} has a matrix: its check names carry the matrix values; require them one by one or drop the matrix`);
      continue;
    }
    if (typeof job?.uses === "string") {
      problems.push(`job ${id} calls a reusable workflow: its checks are named "<caller> / <job>"; list those`);
      continue;
    }
    const name = job?.name;
    if (typeof name === "string" && name.includes("${{")) {
      problems.push(`job ${id} has a computed name (${name}): its check name cannot be read from the file`);
      continue;
    }
    names.push(typeof name === "string" ? name : id);
  }
  return { names, problems };
}
