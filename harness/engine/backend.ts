import * as fs from "node:fs";
import * as os from "node:os";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { PROJECT } from "../../config/environments";

/*
 * A directory standing in for the file backend (`pulumi login file://<dir>`): per stack a
 * checkpoint (the resources of the last update, keyed by URN, with their inputs and
 * outputs, and the stack's outputs) and its update history. It is the only thing a CI job
 * carries over from the one before. The layout follows the file backend's project-scoped
 * one: .pulumi/stacks/<project>/<stack>.json and .pulumi/history/<project>/<stack>/.
 * Files are 0600 in 0700 directories; secret values in them are encrypted.
 */

/** A secret value at rest: Pulumi's secret signature with the ciphertext (never the plaintext). */
export interface StoredSecret {
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270";
  ciphertext: string;
}

export interface StateResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  id: string;
  parent: string;
  /** Inputs as last applied (secret leaves encrypted). */
  inputs: Record<string, unknown>;
  /** Outputs the provider returned (secret leaves encrypted). */
  outputs: Record<string, unknown>;
  dependencies: string[];
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** A replaced resource whose delete did not run yet (create-before-delete, update failed before the end). */
  delete?: boolean;
}

export interface Checkpoint {
  stack: string;
  /** The passphrase provider's salt the secrets in this checkpoint are encrypted with. */
  encryptionSalt?: string;
  resources: StateResource[];
  outputs: Record<string, unknown>;
  /** Names of stack outputs that are secret. */
  secretOutputs: string[];
}

export interface HistoryConfigValue {
  /** Absent for a secret: history keeps it encrypted. */
  value?: string;
  secret: boolean;
  ciphertext?: string;
}

/** One entry of `pulumi stack history --json` as the file backend writes it: no version number. */
export interface HistoryEntry {
  kind: "update" | "preview" | "refresh" | "destroy";
  startTime: string;
  endTime: string;
  message: string;
  environment: Record<string, string>;
  config: Record<string, HistoryConfigValue>;
  result: "succeeded" | "failed" | "in-progress";
  resourceChanges: Record<string, number>;
}

function writePrivate(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** checkForLock's error, word for word (lock.go:86-104). */
function lockedMessage(url: string, locks: Array<{ key: string; pid: number; username: string; hostname: string; timestamp: string }>): string {
  const lines = locks.map((l) => `\n  ${url}/${l.key}: created by ${l.username}@${l.hostname} (pid ${l.pid}) at ${l.timestamp.replace(/\.\d+Z$/, "Z")}`);
  return `the stack is currently locked by ${locks.length} lock(s). Either wait for the other process(es) to end or delete the lock file with \`pulumi cancel\`.${lines.join("")}`;
}

export class FileBackend {
  constructor(readonly dir: string) {}

  /** `file://<dir>`, as PULUMI_BACKEND_URL would name it. */
  get url(): string {
    return `file://${this.dir}`;
  }

  private stackFile(stack: string): string {
    return path.join(this.dir, ".pulumi", "stacks", PROJECT, `${stack}.json`);
  }

  private historyDir(stack: string): string {
    return path.join(this.dir, ".pulumi", "history", PROJECT, stack);
  }

  hasStack(stack: string): boolean {
    return fs.existsSync(this.stackFile(stack));
  }

  /** The last checkpoint; an empty one for a stack no update has touched. */
  checkpoint(stack: string): Checkpoint {
    const file = this.stackFile(stack);
    if (!fs.existsSync(file)) return { stack, resources: [], outputs: {}, secretOutputs: [] };
    const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint: { latest: Checkpoint } };
    return doc.checkpoint.latest;
  }

  /** Written after every step, as the engine persists its snapshot, so a killed update loses nothing it did. */
  saveCheckpoint(checkpoint: Checkpoint): void {
    fs.mkdirSync(path.join(this.dir, ".pulumi"), { recursive: true, mode: 0o700 });
    const meta = path.join(this.dir, ".pulumi", "meta.yaml");
    if (!fs.existsSync(meta)) writePrivate(meta, "version: 1\n");
    writePrivate(this.stackFile(checkpoint.stack), `${JSON.stringify({ version: 3, checkpoint: { stack: `organization/${PROJECT}/${checkpoint.stack}`, latest: checkpoint } }, null, 2)}\n`);
  }

  private lockDir(stack: string): string {
    return path.join(this.dir, ".pulumi", "locks", "organization", PROJECT, stack);
  }

  /**
   * Takes the stack's update lock as the file backend does (pkg/backend/diy/lock.go): refused,
   * naming every other lock, when one exists; a lock left by a killed CLI stays until
   * `pulumi cancel` (cancel below) removes it. Returns the unlock.
   */
  lock(stack: string): () => void {
    const others = this.locks(stack);
    if (others.length > 0) throw new Error(lockedMessage(this.url, others));
    const file = path.join(this.lockDir(stack), `${randomUUID()}.json`);
    writePrivate(file, JSON.stringify({ pid: process.pid, username: os.userInfo().username, hostname: os.hostname(), timestamp: new Date().toISOString() }));
    return () => fs.rmSync(file, { force: true });
  }

  /** The stack's lock files, with what each says. */
  locks(stack: string): Array<{ key: string; pid: number; username: string; hostname: string; timestamp: string }> {
    const dir = this.lockDir(stack);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => ({ key: path.posix.join(".pulumi", "locks", "organization", PROJECT, stack, f), ...JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) }));
  }

  /** `pulumi cancel` on the file backend: every lock of the stack deleted (backend.go CancelCurrentUpdate). */
  cancel(stack: string): number {
    const n = this.locks(stack).length;
    fs.rmSync(this.lockDir(stack), { recursive: true, force: true });
    return n;
  }

  appendHistory(stack: string, entry: HistoryEntry): void {
    const nanos = `${Date.now()}${String(process.hrtime.bigint() % 1_000_000n).padStart(6, "0")}`;
    writePrivate(path.join(this.historyDir(stack), `${stack}-${nanos}.history.json`), `${JSON.stringify(entry, null, 2)}\n`);
  }

  /** Every entry, newest first (the file backend sorts its history files by name, newest first). */
  allHistory(stack: string): HistoryEntry[] {
    const dir = this.historyDir(stack);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".history.json"))
      .sort()
      .reverse()
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as HistoryEntry);
  }
}
