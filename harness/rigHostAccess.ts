import * as path from "node:path";
import type { HostAccess } from "../ops/hostAccess";
import type { Connection } from "../ops/ssh";
import { hostLayout } from "../render/hostCommands";
import { readState } from "../rig";
import { stateDir as rigStateDir } from "../rig/config";
import { loadState } from "./rehearsal/state";

/** A stack's rig host, as its last rehearsal reached it (the CLI's --rig adapter). */
export function rigHostAccess(stack: string): HostAccess {
  const rig = readState()?.createdAt;
  if (!rig) throw new Error("the rig is not up (npx wepppy-cicd rig up)");
  const rehearsed = loadState(rigStateDir, stack, rig);
  const deploy = Object.values(rehearsed.resources).find((r) => r.name === `${stack}-compose-deploy`);
  const conf = Object.values(rehearsed.resources).find((r) => r.name === `${stack}-compose-conf`);
  if (!deploy || !conf) throw new Error(`${stack} has not been rehearsed on this rig yet (npx wepppy-cicd rehearse ${stack})`);
  const text = String(conf.state.stdin ?? "");
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1] ?? "";
  const root = path.posix.dirname(path.posix.dirname(String(deploy.state.create).split(" ")[1] ?? "/opt/wepppy-cicd/bin/x"));
  return { connection: deploy.state.connection as Connection, layout: hostLayout(root, value("PROJECT_DIR")), via: "rig" };
}
