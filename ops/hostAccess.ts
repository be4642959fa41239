import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NAMESPACE } from "../config/environments";
import { parseStackConfig } from "../config/load";
import { WEPPPY_REFERENCE_DIR } from "../config/paths";
import { readStackFile, withOverrides } from "../config/stackFile";
import { HostLayout, hostLayout } from "../render/hostCommands";
import { Connection } from "./ssh";

/*
 * How an operator's command (audit, status, promote's evidence) reaches a stack's real
 * host: the host and pinned key of the stack's config, with a private key the operator
 * names. The rig's hosts are reached only through the rig's own adapter (--rig), chosen
 * by the CLI; nothing here looks at the rig.
 */

export interface HostAccess {
  connection: Connection;
  layout: HostLayout;
  /** Where the connection came from, for messages. */
  via: string;
}

export function configuredHostAccess(stack: string, identityFile?: string): HostAccess {
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
