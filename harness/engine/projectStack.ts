import * as fs from "node:fs";
import { Document, isCollection, isMap, isScalar, parseDocument } from "yaml";
import type { ConfigMap, ConfigValue } from "@pulumi/pulumi/automation";
import { Crypter, crypterFor, newCrypter } from "./crypter";

/*
 * A stack's config as the CLI keeps it for the file backend: in Pulumi.<stack>.yaml of the
 * working directory, and nowhere else. Reads and writes follow `pulumi config` (3.248.0):
 * - a top-level key is stored as the text given (`config set` without --path; set-all too);
 * - with --path and more than one element, "true"/"false" become booleans and base-10
 *   integers without a leading 0 become numbers (config/map.go:238-249, object.go:567-591);
 * - a path under a key that holds a scalar (e.g. JSON text) replaces it with a new map: the
 *   COMPAT rule of object.go:295-299, which is how a section written whole as a string is lost;
 * - a secret is a `{secure: v1:...}` leaf, encrypted with the passphrase provider and the
 *   file's `encryptionsalt` (written on the first secret);
 * - set-all applies its plaintext values first, then its secrets (config.go:923-974).
 * Comments are kept, as the CLI's comment-preserving edit keeps them.
 */

export type ConfigPath = Array<string | number>;

/** `ns:a.b[0]["c.d"]` -> top key `ns:a` and path [b, 0, "c.d"] (the CLI's path syntax). */
export function parseConfigPath(key: string): { top: string; path: ConfigPath } {
  const colon = key.indexOf(":");
  if (colon <= 0) throw new Error(`config key "${key}" must be namespaced (<namespace>:<name>)`);
  const ns = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  const parts: ConfigPath = [];
  let i = 0;
  let current = "";
  const push = () => {
    if (current !== "") parts.push(current);
    current = "";
  };
  while (i < rest.length) {
    const c = rest[i];
    if (c === ".") {
      push();
      i++;
    } else if (c === "[") {
      push();
      const end = rest.indexOf("]", i);
      if (end < 0) throw new Error(`${key}: unterminated [ in config path`);
      const inner = rest.slice(i + 1, end);
      if (/^"[^"]*"$/.test(inner)) parts.push(inner.slice(1, -1));
      else if (/^[0-9]+$/.test(inner)) parts.push(Number(inner));
      else throw new Error(`${key}: expected an index or a quoted key in [ ]`);
      i = end + 1;
    } else {
      current += c;
      i++;
    }
  }
  push();
  if (parts.length === 0 || typeof parts[0] !== "string") throw new Error(`config key "${key}" has no name`);
  return { top: `${ns}:${parts[0]}`, path: parts.slice(1) };
}

/** How `config set --path` types an untyped plaintext leaf. */
export function coerceLeaf(text: string): unknown {
  if (text === "true" || text === "false") return text === "true";
  if (/^(0|-?[1-9][0-9]*)$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
  }
  return text;
}

function isSecureLeaf(value: unknown): value is { secure: string } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { secure?: unknown }).secure === "string";
}

function containsSecure(value: unknown): boolean {
  if (isSecureLeaf(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecure);
  if (typeof value === "object" && value !== null) return Object.values(value).some(containsSecure);
  return false;
}

function decryptDeep(value: unknown, crypter: () => Crypter): unknown {
  if (isSecureLeaf(value)) return crypter().decrypt(value.secure);
  if (Array.isArray(value)) return value.map((v) => decryptDeep(v, crypter));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decryptDeep(v, crypter)]));
  return value;
}

export interface ProjectStackOptions {
  /** The passphrase (PULUMI_CONFIG_PASSPHRASE[_FILE]) the secrets are encrypted with. */
  passphrase?: () => string;
  /** A crypter to use instead of the passphrase provider (the in-memory stack of the tests). */
  crypter?: Crypter;
  /** The file's text when there is no file (in memory). */
  text?: string;
}

export class ProjectStackFile {
  private doc: Document;

  constructor(
    readonly file: string | undefined,
    private readonly options: ProjectStackOptions,
  ) {
    const text = options.text ?? (file && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "config: {}\n");
    this.doc = parseDocument(text);
    if (this.doc.errors.length > 0) throw new Error(`${file ?? "stack file"}: not valid YAML: ${this.doc.errors[0].message}`);
    this.cached = options.crypter;
  }

  private cached?: Crypter;

  private passphrase(): string {
    if (!this.options.passphrase) throw new Error("no passphrase to encrypt or decrypt secrets with");
    return this.options.passphrase();
  }

  /** The file's crypter; a first secret writes a new encryptionsalt. */
  private crypter(create = false): Crypter {
    if (this.cached) return this.cached;
    const salt = this.doc.get("encryptionsalt");
    if (typeof salt === "string") this.cached = crypterFor(this.passphrase(), salt);
    else if (create) {
      this.cached = newCrypter(this.passphrase());
      this.doc.set("encryptionsalt", this.cached.salt);
    } else throw new Error(`${this.file} has secure values but no encryptionsalt`);
    return this.cached;
  }

  get encryptionSalt(): string | undefined {
    const salt = this.doc.get("encryptionsalt");
    return typeof salt === "string" ? salt : undefined;
  }

  private configObject(): Record<string, unknown> {
    const config = this.doc.toJS()?.config ?? {};
    return typeof config === "object" && config !== null ? (config as Record<string, unknown>) : {};
  }

  /** What `pulumi config --show-secrets --json` gives: each key's text (objects as JSON) and whether it is secret. */
  all(): ConfigMap {
    const out: ConfigMap = {};
    for (const [key, raw] of Object.entries(this.configObject())) {
      const secret = containsSecure(raw);
      const value = decryptDeep(raw, () => this.crypter());
      out[key] = { value: typeof value === "object" && value !== null ? JSON.stringify(value) : String(value), secret };
    }
    return out;
  }

  /** The stored form of each key (secure leaves still encrypted), as history records it. */
  stored(): Record<string, unknown> {
    return this.configObject();
  }

  set(key: string, value: ConfigValue, path = false): void {
    const leafText = value.value;
    const secure = value.secret ? { secure: this.crypter(true).encrypt(leafText) } : undefined;
    if (!path) {
      this.setTop(key, secure ?? leafText);
      return;
    }
    const { top, path: parts } = parseConfigPath(key);
    const leaf = secure ?? (parts.length > 0 ? coerceLeaf(leafText) : leafText);
    if (parts.length === 0) {
      this.setTop(top, leaf);
      return;
    }
    const config = this.configNode();
    if (!isCollection(config.get(top, true))) {
      // COMPAT: a scalar (or nothing) at the first level is replaced by a new container.
      config.set(top, this.doc.createNode(typeof parts[0] === "number" ? [] : {}));
    }
    const parent = this.doc.getIn(["config", top, ...parts.slice(0, -1)], true);
    if (parts.length > 1 && parent !== undefined && !isCollection(parent)) {
      throw new Error(`${key}: ${top}.${parts.slice(0, -1).join(".")}: expected a map`);
    }
    this.doc.setIn(["config", top, ...parts], this.doc.createNode(leaf));
  }

  /** Sets a top-level key to a structured value, as a stack file holds a section (a map, not its JSON text). */
  setStored(key: string, value: unknown): void {
    this.configNode().set(key, this.doc.createNode(value));
  }

  remove(key: string, path = false): void {
    if (!path) {
      this.configNode().delete(key);
      return;
    }
    const { top, path: parts } = parseConfigPath(key);
    if (parts.length === 0) this.configNode().delete(top);
    else if (this.doc.hasIn(["config", top, ...parts])) this.doc.deleteIn(["config", top, ...parts]);
  }

  private configNode() {
    let config = this.doc.get("config", true);
    if (!isMap(config)) {
      this.doc.set("config", this.doc.createNode({}));
      config = this.doc.get("config", true);
    }
    return config as ReturnType<Document["createNode"]> & { get: (k: string, keep?: boolean) => unknown; set: (k: string, v: unknown) => void; delete: (k: string) => boolean };
  }

  private setTop(key: string, value: unknown): void {
    const node = this.doc.createNode(value);
    if (isScalar(node) && typeof value === "string" && /^[{[]/.test(value)) node.type = "QUOTE_SINGLE";
    this.configNode().set(key, node);
  }

  toString(): string {
    return this.doc.toString();
  }

  save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, this.doc.toString(), { mode: 0o644 });
    fs.renameSync(tmp, this.file);
  }
}
