import { z } from "zod";

/*
 * Every value that reaches a host (a hostname, a path, a tag, a service name) is
 * restricted here to characters that carry no meaning to a shell, so that a hostile
 * value is refused when the stack file is read instead of being quoted later by luck.
 * Each builder records what it expects once: the same words are the error message
 * and the "expected" column of the README's config reference.
 */

/** The "expected ..." text a field reports; read back by the README generator. */
export interface FieldMeta {
  expected: string;
  description?: string;
}

function text(expected: string, pattern: RegExp, description?: string) {
  const error = `expected ${expected}`;
  return z.string({ error }).regex(pattern, { error }).meta({ expected, description });
}

// RFC 1123 labels; the whole name at most 253 characters.
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
// An absolute POSIX path made of plain segments: no "..", no spaces, no shell metacharacters.
const ABSOLUTE_PATH = /^\/(?:(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+\/?)*$/;
// A path on the machine that runs Pulumi, relative to the project or absolute.
const LOCAL_PATH = /^(?:\/|\.{1,2}\/|[A-Za-z0-9_])[A-Za-z0-9._/-]*$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// Compose's own rule for service names, narrowed to what a shell leaves alone.
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
// "<registry host>[:port]/<path>", lower case as OCI requires.
const IMAGE_REPOSITORY = /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMMIT_TAG = /^(?:master|sha)-[0-9a-f]{7,40}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const GIT_REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
// One OpenSSH public-key line: "<type> <base64>", nothing else (no options, no comment).
const HOST_KEY = /^(?:ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;
const URL_PATH = /^\/[A-Za-z0-9._~\/-]*$/;
const HTTP_URL = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~\/-]*)?$/;
// One word of a command line run inside the app container (no shell parses it).
const ARGV_WORD = /^[A-Za-z0-9._\/:=@+,-]{1,200}$/;
const PROSE = /^[^\x00-\x1f`$\\"']{1,200}$/;

export const hostname = (description?: string) => text("a hostname", HOSTNAME, description);
export const address = (description?: string) =>
  z
    .string({ error: "expected a hostname or IPv4 address" })
    .refine((v) => HOSTNAME.test(v) || IPV4.test(v), { error: "expected a hostname or IPv4 address" })
    .meta({ expected: "a hostname or IPv4 address", description });
export const absolutePath = (description?: string) =>
  text("an absolute path of plain segments ([A-Za-z0-9._-], no '..')", ABSOLUTE_PATH, description);
// Read with fs on the machine running Pulumi, never put on a shell line; ".." is how it reaches a sibling checkout.
export const localPath = (description?: string) => text("a local path ([A-Za-z0-9._/-])", LOCAL_PATH, description);
export const fileName = (description?: string) => text("a file name ([A-Za-z0-9._-])", FILE_NAME, description);
export const serviceName = (description?: string) =>
  text("a compose service name ([a-zA-Z0-9_.-])", SERVICE_NAME, description);
export const unixUser = (description?: string) => text("a Unix user name", UNIX_USER, description);
export const imageRepository = (description?: string) =>
  text("an image repository such as ghcr.io/owner/name", IMAGE_REPOSITORY, description);
export const imageTag = (description?: string) => text("an image tag", IMAGE_TAG, description);
export const commitTag = (description?: string) =>
  text("a commit tag master-<sha> or sha-<sha> (7-40 hex digits)", COMMIT_TAG, description);
export const digest = (description?: string) => text("an image digest sha256:<64 hex digits>", DIGEST, description);
export const gitRef = (description?: string) => text("a git branch, tag or commit", GIT_REF, description);
export const hostKey = (description?: string) =>
  text('an SSH public host key line "<type> <base64>"', HOST_KEY, description);
export const urlPath = (description?: string) => text("a URL path starting with /", URL_PATH, description);
export const httpUrl = (description?: string) => text("an http(s) URL without query or credentials", HTTP_URL, description);
export const argvWord = (description?: string) =>
  text("a command word ([A-Za-z0-9._/:=@+,-])", ARGV_WORD, description);
export const prose = (description?: string) =>
  text("plain text (1-200 characters, no quotes, backslashes, '$' or backticks)", PROSE, description);

export const port = (description?: string) =>
  z
    .number({ error: "expected a port number 1-65535" })
    .int({ error: "expected a port number 1-65535" })
    .min(1, { error: "expected a port number 1-65535" })
    .max(65535, { error: "expected a port number 1-65535" })
    .meta({ expected: "a port number 1-65535", description });

export const count = (min: number, max: number, description?: string) => {
  const error = `expected a whole number ${min}-${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error }).meta({ expected: `${min}-${max}`, description });
};

export const flag = (description?: string) =>
  z.boolean({ error: "expected true or false" }).meta({ expected: "true or false", description });

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, description?: string) {
  const expected = `one of ${values.map((v) => `"${v}"`).join(", ")}`;
  return z.enum(values, { error: `expected ${expected}` }).meta({ expected, description });
}

/** A non-empty list without repeats. */
export function list<T extends z.ZodType>(item: T, what: string, description?: string) {
  return z
    .array(item, { error: `expected a list of ${what}` })
    .min(1, { error: `expected a non-empty list of ${what}` })
    .refine((xs) => new Set(xs.map((x) => JSON.stringify(x))).size === xs.length, {
      error: `expected a list of ${what} without repeats`,
    })
    .meta({ expected: `a list of ${what}`, description });
}
