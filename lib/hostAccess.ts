import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NAMESPACE } from "../config/environments";
import { parseStackConfig } from "../config/load";
import { readStackFile, withOverrides } from "../config/stackFile";
import { readState } from "../rig";
import { stateDir as rigStateDir } from "../rig/config";
import { HostLayout, hostLayout } from "./hostCommands";
import { WEPPPY_REFERENCE_DIR } from "./paths";
import { Connection } from "./rehearsal/remote";
import { loadState } from "./rehearsal/state";

/*
 * How an operator's command (audit, status) reaches a stack's host: the connection the
 * last rehearsal used when the stack runs on the rig, otherwise the stack file's host and
 * pinned key with the operator's own private key.
 */

export interface HostAccess {
  connection: Connection;
  layout: HostLayout;
  /** "rig" or "stack file", for messages. */
  via: string;
}

export function hostAccess(stack: string, identityFile?: string): HostAccess {
  const rig = readState()?.createdAt;
  const rehearsed = rig ? loadState(rigStateDir, stack, rig) : undefined;
  const deploy = Object.values(rehearsed?.resources ?? {}).find((r) => r.name === `${stack}-compose-deploy`);
  const conf = Object.values(rehearsed?.resources ?? {}).find((r) => r.name === `${stack}-compose-conf`);
  if (deploy && conf) {
    const text = String(conf.state.stdin ?? "");
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1] ?? "";
    const root = path.posix.dirname(path.posix.dirname(String(deploy.state.create).split(" ")[1] ?? "/opt/wepppy-cicd/bin/x"));
    return { connection: deploy.state.connection as Connection, layout: hostLayout(root, value("PROJECT_DIR")), via: "rig" };
  }
  const raw = withOverrides(readStackFile(stack), { "compose.sourceDir": WEPPPY_REFERENCE_DIR }, NAMESPACE);
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });
  if (!config.deploy.hostKey) {
    throw new Error(`${stack}: wepppy-cicd:deploy.hostKey is not set, so ${config.deploy.host} cannot be reached safely`);
  }
  const identity = identityFile ?? path.join(os.homedir(), ".ssh", "id_ed25519");
  if (!fs.existsSync(identity)) throw new Error(`no private key at ${identity} (use --identity FILE)`);
  return {
    connection: {
      host: config.deploy.address ?? config.deploy.host,
      port: config.deploy.sshPort,
      user: config.deploy.sshUser,
      hostKey: config.deploy.hostKey,
      privateKey: fs.readFileSync(identity, "utf8"),
    },
    layout: hostLayout(config.deploy.root, config.compose.projectDir),
    via: "stack file",
  };
}
