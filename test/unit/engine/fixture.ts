import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileBackend } from "../../../harness/engine/backend";
import { EngineStack } from "../../../harness/engine/engineStack";
import { newCrypter } from "../../../harness/engine/crypter";
import { LocalExecutor } from "../../../harness/engine/executor";
import "../lazyPromiseStacks";

/*
 * A scratch world for the stand-in engine: a backend directory, a working directory with
 * the stack file, and a "host" directory where LocalExecutor runs commands with bash and
 * copies files with SFTP's modes. The programs are small ones written by each test.
 */
export interface World {
  dir: string;
  backend: FileBackend;
  host: LocalExecutor;
  workDir: string;
  stack(program: () => Promise<Record<string, unknown>>, name?: string): EngineStack;
  /** The host's log file (each command appends to it), as lines. */
  hostLog(): string[];
  cleanup(): void;
}

export const PASSPHRASE = "conformance-passphrase";

// One salt for every world's backend: deriving a key takes a million PBKDF2 rounds, as the real provider's does.
let salt: string | undefined;
function backendSalt(): string {
  salt ??= newCrypter(PASSPHRASE).salt;
  return salt;
}

export function world(): World {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-"));
  const backend = new FileBackend(path.join(dir, "state"));
  for (const stack of ["dev", "testprod", "prod"]) backend.saveCheckpoint({ stack, encryptionSalt: backendSalt(), resources: [], outputs: {}, secretOutputs: [] });
  const hostRoot = path.join(dir, "host");
  const workDir = path.join(dir, "work");
  fs.mkdirSync(hostRoot);
  fs.mkdirSync(workDir);
  const host = new LocalExecutor(hostRoot);
  return {
    dir,
    backend,
    host,
    workDir,
    stack: (program, name = "dev") =>
      new EngineStack(name, {
        workDir,
        backend,
        executor: host,
        passphrase: () => PASSPHRASE,
        invoke: async (token) => {
          throw new Error(`no invoke ${token} here`);
        },
        program,
      }),
    hostLog: () => {
      const file = path.join(hostRoot, "log");
      return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : [];
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A connection the local executor ignores but the state keeps (its host is the "machine"). */
export function conn(host = "host-a") {
  return { host, user: "roger", hostKey: "ssh-ed25519 AAAATEST", privateKey: "KEY" };
}
