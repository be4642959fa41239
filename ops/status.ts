import { StackConfig } from "../config/schema";
import { sectionObject } from "./configMap";
import { OpsError, judgeConfig } from "./common";
import type { StackHandle } from "./stackHandle";

/*
 * `wepppy-cicd status`: what the stack's config declares (live colour, the image on each
 * colour, the last release), what its last update left (outputs, history), and what the
 * host reports (`wepppy-deploy status`, passed through), as one object.
 */

export interface StatusResult {
  stack: string;
  /** False when the config is not valid or the host could not be asked. */
  ok: boolean;
  config: {
    bluegreen: { enabled: boolean; live?: string; idle?: string; images: { blue: string | null; green: string | null } };
    image: Record<string, unknown>;
    release: Record<string, unknown> | null;
    problems?: string[];
  };
  outputs: Record<string, unknown>;
  lastUpdate: { version: number; result: string; startTime?: string; endTime?: string; message?: string } | null;
  host: Record<string, unknown>;
}

export interface StatusOptions {
  stack: StackHandle;
  hostStatus: () => Promise<Record<string, unknown>>;
  sourceDir?: string;
}

const SHOWN_OUTPUTS = ["url", "imageRef", "imageDigest", "imageSource", "deployed", "bluegreen", "release"];

function iso(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : undefined;
}

export async function status(options: StatusOptions): Promise<StatusResult> {
  const name = options.stack.name;
  const map = await options.stack.getAllConfig();
  let config: StackConfig | undefined;
  let problems: string[] | undefined;
  try {
    config = judgeConfig(name, map, options.sourceDir);
  } catch (err) {
    if (!(err instanceof OpsError)) throw err;
    problems = err.message.split("\n").slice(1);
  }
  const bluegreenRaw = sectionObject(map, "bluegreen") ?? {};
  const enabled = config ? config.bluegreen.enabled : bluegreenRaw.enabled === true;
  const live = config ? config.bluegreen.live : (bluegreenRaw.live as string | undefined);
  const images = config ? config.bluegreen.images : ((bluegreenRaw.images ?? {}) as Record<string, string>);
  const image = sectionObject(map, "image") ?? {};
  const release = config ? (config.release ?? null) : (sectionObject(map, "release") ?? null);

  const outputs: Record<string, unknown> = {};
  try {
    const all = await options.stack.outputs();
    for (const key of SHOWN_OUTPUTS) if (all[key] && !all[key].secret) outputs[key] = all[key].value;
  } catch (err) {
    outputs.error = `outputs not readable: ${err instanceof Error ? err.message.split("\n")[0] : err}`;
  }

  let lastUpdate: StatusResult["lastUpdate"] = null;
  try {
    const [newest] = await options.stack.history(1, 1, false);
    if (newest) lastUpdate = { version: newest.version, result: newest.result, startTime: iso(newest.startTime), endTime: iso(newest.endTime), message: newest.message };
  } catch {
    // a stack without updates
  }

  let host: Record<string, unknown>;
  let hostOk = true;
  try {
    host = await options.hostStatus();
  } catch (err) {
    hostOk = false;
    host = { error: err instanceof Error ? err.message : String(err) };
  }
  return {
    stack: name,
    ok: hostOk && !problems,
    config: {
      bluegreen: { enabled, ...(enabled ? { live, idle: live === "green" ? "blue" : "green" } : {}), images: { blue: images.blue ?? null, green: images.green ?? null } },
      image,
      release,
      ...(problems ? { problems } : {}),
    },
    outputs,
    lastUpdate,
    host,
  };
}
