import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/*
 * File writes that a reader never sees half-done: a temp file in the same directory
 * (O_EXCL, a random name, so no other writer and no symlink planted in advance is
 * followed), then rename(2) over the target.
 */

export function writeFileAtomic(target: string, content: string | Uint8Array, mode = 0o640): void {
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(target)}.${crypto.randomBytes(6).toString("hex")}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeSync(fd, typeof content === "string" ? Buffer.from(content, "utf8") : content);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, target);
}

export function writeJsonAtomic(target: string, value: unknown, mode = 0o640): void {
  writeFileAtomic(target, `${JSON.stringify(value, null, 2)}\n`, mode);
}

/** A JSON file's value; undefined when the file does not exist; throws naming the file when it is not JSON. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message}); move it aside and run the command again`);
  }
}

export function readTextFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export function fileDigest(file: string): string | undefined {
  try {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Appends one line with one write(2) on an O_APPEND descriptor: concurrent writers never interleave a line. */
export function appendLine(file: string, line: string, mode = 0o640): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, "a", mode);
  try {
    fs.writeSync(fd, Buffer.from(`${line}\n`, "utf8"));
  } finally {
    fs.closeSync(fd);
  }
}

/** The last `n` lines of a text file (all of it is read: audit logs are small). */
export function lastLines(file: string, n: number): string[] {
  const text = readTextFile(file);
  if (!text) return [];
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(Math.max(0, lines.length - n));
}
