import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from "node:crypto";

/*
 * The passphrase secrets provider, as the file backend uses it: a key derived from the
 * passphrase and the stack's salt, AES-256-GCM per value, "v1:<nonce>:<ciphertext>".
 * The stack file keeps the salt (encryptionsalt) and a known value encrypted with it, so a
 * wrong passphrase is told apart from a corrupt value. (pulumi/pulumi pkg/secrets/passphrase,
 * sdk/go/common/resource/config/crypt.go.)
 */

const ITERATIONS = 1_000_000;
const KEY_BYTES = 32;
const CHECK_VALUE = "pulumi";

export class PassphraseError extends Error {}

const keys = new Map<string, Buffer>();

function deriveKey(passphrase: string, salt: Buffer): Buffer {
  const id = `${salt.toString("base64")}\0${passphrase}`;
  let key = keys.get(id);
  if (!key) {
    key = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, ITERATIONS, KEY_BYTES, "sha256");
    keys.set(id, key);
  }
  return key;
}

export function encryptWith(key: Buffer, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
}

export function decryptWith(key: Buffer, ciphertext: string): string {
  const parts = ciphertext.split(":");
  if (parts.length !== 3 || parts[0] !== "v1") throw new PassphraseError("not a v1 ciphertext");
  const nonce = Buffer.from(parts[1], "base64");
  const body = Buffer.from(parts[2], "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAuthTag(body.subarray(body.length - 16));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    throw new PassphraseError("incorrect passphrase");
  }
}

export interface Crypter {
  /** The stack file's `encryptionsalt` line value: "v1:<salt>:<check value encrypted>". */
  readonly salt: string;
  encrypt(plaintext: string): string;
  decrypt(ciphertext: string): string;
}

/** A crypter for an existing salt; refuses a passphrase that does not open the check value. */
export function crypterFor(passphrase: string, encryptionSalt: string): Crypter {
  const parts = encryptionSalt.split(":");
  if (parts.length !== 5 || parts[0] !== "v1") throw new PassphraseError("encryptionsalt is not in the v1 format");
  const key = deriveKey(passphrase, Buffer.from(parts[1], "base64"));
  const check = parts.slice(2).join(":");
  if (decryptWith(key, check) !== CHECK_VALUE) throw new PassphraseError("incorrect passphrase");
  return {
    salt: encryptionSalt,
    encrypt: (p) => encryptWith(key, p),
    decrypt: (c) => decryptWith(key, c),
  };
}

/** A new salt for a stack that has none yet (what `pulumi stack init` writes). */
export function newCrypter(passphrase: string): Crypter {
  const salt = randomBytes(8);
  const key = deriveKey(passphrase, salt);
  return crypterFor(passphrase, `v1:${salt.toString("base64")}:${encryptWith(key, CHECK_VALUE)}`);
}

/** PULUMI_CONFIG_PASSPHRASE, else the file PULUMI_CONFIG_PASSPHRASE_FILE names, as the CLI reads them. */
export function passphraseFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return env.PULUMI_CONFIG_PASSPHRASE;
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require("node:fs") as typeof import("node:fs")).readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").replace(/\r?\n$/, "");
  }
  throw new PassphraseError("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables");
}
