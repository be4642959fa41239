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

/**
 * The private key an operator's command uses, first found of: the file named (--identity),
 * the stack's own deploy key (secret config, decrypted as the program reads it: what a CI
 * job has), an ssh-agent, ~/.ssh/id_ed25519.
 */
export async function privateKeyFor(stack: string, identityFile: string | undefined, stackDeployKey: () => Promise<string | undefined>): Promise<{ key?: string; via: string }> {
  if (identityFile) {
    if (!fs.existsSync(identityFile)) throw new Error(`no private key at ${identityFile} (--identity)`);
    return { key: fs.readFileSync(identityFile, "utf8"), via: identityFile };
  }
  const fromStack = await stackDeployKey().catch(() => undefined);
  if (fromStack) return { key: fromStack, via: `${stack}'s deployKey` };
  if (process.env.SSH_AUTH_SOCK) return { via: "ssh-agent" };
  const home = path.join(os.homedir(), ".ssh", "id_ed25519");
  if (fs.existsSync(home)) return { key: fs.readFileSync(home, "utf8"), via: home };
  throw new Error(`no key to reach ${stack}'s host: name one (--identity FILE), set ${NAMESPACE}:deployKey in the stack (secret), or run an ssh-agent`);
}

export async function configuredHostAccess(stack: string, identityFile?: string, stackDeployKey: () => Promise<string | undefined> = async () => undefined): Promise<HostAccess> {
  const raw = withOverrides(readStackFile(stack), { "compose.sourceDir": WEPPPY_REFERENCE_DIR }, NAMESPACE);
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });
  if (!config.deploy.hostKey) {
    throw new Error(`${stack}: wepppy-cicd:deploy.hostKey is not set, so ${config.deploy.host} cannot be reached safely`);
  }
  const key = await privateKeyFor(stack, identityFile, stackDeployKey);
  return {
    connection: {
      host: config.deploy.address ?? config.deploy.host,
      port: config.deploy.sshPort,
      user: config.deploy.sshUser,
      hostKey: config.deploy.hostKey,
      ...(key.key ? { privateKey: key.key } : {}),
    },
    layout: hostLayout(config.deploy.root, config.compose.projectDir),
    via: `stack file, key from ${key.via}`,
  };
}
