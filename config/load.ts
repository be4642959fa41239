import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { NAMESPACE, STACKS, StackName, isStackName, stackFileName } from "./environments";
import { PROJECT_ROOT } from "./paths";
import { SECRET_SECTIONS, StackConfig, stackConfigSchema, stackConfigShape } from "./schema";

/** A stack file that does not satisfy the schema: every problem, one line each. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "StackConfigError";
  }
}

export interface LoadOptions {
  /** Named in every error line, e.g. "Pulumi.prod.yaml". */
  source?: string;
  /** Fully qualified keys whose values must never be echoed (Pulumi's secret config). */
  secretKeys?: Iterable<string>;
  /** Directory that relative paths in the config are resolved against. */
  projectDir?: string;
}

const SECTIONS = Object.keys(stackConfigShape);

function describeInput(input: unknown): string {
  const text = JSON.stringify(input);
  if (text === undefined) return String(input);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function keyOf(pathParts: PropertyKey[]): string {
  return `${NAMESPACE}:${pathParts.map(String).join(".")}`;
}

function formatIssue(issue: z.core.$ZodIssue, source: string, secret: (section: string) => boolean): string[] {
  const where = issue.path;
  if (issue.code === "unrecognized_keys") {
    const known = where.length === 0 ? SECTIONS : undefined;
    return issue.keys.map((k) => {
      const hint = known ? ` (known sections: ${known.join(", ")})` : "";
      return `${source}: ${keyOf([...where, k])}: unknown key${hint}`;
    });
  }
  const key = keyOf(where);
  const hidden = where.length > 0 && secret(String(where[0]));
  const message = issue.message.startsWith("Invalid input: expected ")
    ? issue.message.replace(/^Invalid input: /, "").replace(/, received .*$/, "")
    : issue.message;
  if (issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union")) {
    return [`${source}: ${key}: missing, ${message}`];
  }
  if (hidden || issue.input === undefined) return [`${source}: ${key}: ${message}`];
  return [`${source}: ${key}: ${message}, got ${describeInput(issue.input)}`];
}

/**
 * Turns the engine's flat config map (`"wepppy-cicd:deploy" -> JSON text`) into the
 * sections the schema expects; keys of other namespaces (providers) are left alone.
 */
function sectionsOf(raw: Record<string, string>, source: string): { sections: Record<string, unknown>; problems: string[] } {
  const sections: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [fullKey, text] of Object.entries(raw)) {
    const [ns, ...rest] = fullKey.split(":");
    if (ns !== NAMESPACE) continue;
    const section = rest.join(":");
    try {
      sections[section] = JSON.parse(text);
    } catch {
      // A plain scalar is not valid for any section; the schema names what was expected.
      sections[section] = text;
    }
  }
  return { sections, problems };
}

/** Checks that need the file system: the compose files must exist where the config says. */
function checkSources(config: StackConfig, source: string, projectDir: string): string[] {
  const dir = path.resolve(projectDir, config.compose.sourceDir);
  const problems: string[] = [];
  if (!fs.existsSync(dir)) {
    return [`${source}: ${NAMESPACE}:compose.sourceDir: expected an existing directory, got "${config.compose.sourceDir}" (${dir})`];
  }
  config.compose.files.forEach((file, i) => {
    if (!fs.existsSync(path.join(dir, file))) {
      problems.push(`${source}: ${NAMESPACE}:compose.files.${i}: expected a file in ${dir}, got "${file}"`);
    }
  });
  return problems;
}

/**
 * Validates a stack's whole config. Returns the typed config or throws one
 * StackConfigError naming the stack file and every bad key.
 */
export function parseStackConfig(stack: string, raw: Record<string, string>, options: LoadOptions = {}): StackConfig {
  const source = options.source ?? stackFileName(stack);
  if (!isStackName(stack)) {
    throw new StackConfigError([`${source}: stack "${stack}" is not one of ${STACKS.join(", ")}`]);
  }
  const secretKeys = new Set(options.secretKeys ?? []);
  const secret = (section: string) => SECRET_SECTIONS.has(section) || secretKeys.has(`${NAMESPACE}:${section}`);
  const { sections, problems } = sectionsOf(raw, source);
  const result = stackConfigSchema(stack as StackName).safeParse(sections, { reportInput: true });
  if (!result.success) {
    problems.push(...result.error.issues.flatMap((issue) => formatIssue(issue, source, secret)));
  } else {
    problems.push(...checkSources(result.data, source, options.projectDir ?? PROJECT_ROOT));
  }
  if (problems.length > 0) throw new StackConfigError(problems);
  return result.data!;
}
