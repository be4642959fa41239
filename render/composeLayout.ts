import { ComposeSecret, composeServices, composeSource, secretsInDirectory } from "./composeFile";
import { Interpolation, interpolations, stringsIn } from "./composeInterpolation";

/*
 * Which compose layout a wepppy release uses, and what the stack must give it.
 *
 * wepppy has shipped two ways of handing secrets to its services:
 * - secret files: compose `secrets:` read from ./secrets/<name>, services get `*_FILE`
 *   variables pointing at /run/secrets/<name> (today's files);
 * - env secrets: older releases interpolate `${SECRET_KEY}`, `${POSTGRES_PASSWORD}` ... from
 *   the project's .env (and have no Caddy in front).
 * The same stack secrets (named as today's secret files) feed either: layoutSecretValues
 * turns them into the secret files or the .env entries the release's layout reads, so a
 * rollback across that boundary works. checkSupply refuses, before any host command runs,
 * a compose file that needs a variable the stack cannot supply.
 *
 * Pure: documents in (read by readComposeDocument), names and values out.
 */

type Json = Record<string, unknown>;

/**
 * What older releases called each stack secret in .env: the variable today's files pass as
 * `<VARIABLE>_FILE: /run/secrets/<secret>` (STATUS_/PREFLIGHT_REDIS_PASSWORD are the
 * status and preflight services' names for the Redis password). test/unit/composeLayout.test.ts
 * checks this table against every `*_FILE` in wepppy's real prod and dev files.
 */
export const ENV_SECRET_VARIABLES: Readonly<Record<string, string>> = {
  SECRET_KEY: "flask_secret_key",
  SECURITY_PASSWORD_SALT: "flask_security_password_salt",
  POSTGRES_PASSWORD: "postgres_password",
  REDIS_PASSWORD: "redis_password",
  STATUS_REDIS_PASSWORD: "redis_password",
  PREFLIGHT_REDIS_PASSWORD: "redis_password",
  WEPP_AUTH_JWT_SECRETS: "wepp_auth_jwt_secrets",
  AGENT_JWT_SECRET: "agent_jwt_secret",
  WEPP_MCP_JWT_SECRET: "wepp_mcp_jwt_secret",
  DTALE_INTERNAL_TOKEN: "dtale_internal_token",
  CAP_SECRET: "cap_secret",
  OAUTH_GITHUB_CLIENT_SECRET: "oauth_github_client_secret",
  OAUTH_GOOGLE_CLIENT_SECRET: "oauth_google_client_secret",
  ZOHO_NOREPLY_EMAIL_PASSWORD: "zoho_noreply_email_password",
  OPENTOPOGRAPHY_API_KEY: "opentopography_api_key",
  CLIMATE_ENGINE_API_KEY: "climate_engine_api_key",
  ADMIN_PASSWORD: "admin_password",
};

/**
 * Stack secrets another party issues (OAuth apps, e-mail, data APIs): never generated, only
 * set in config; unset, they are written empty, which leaves that feature off.
 */
export const ISSUED_ELSEWHERE: ReadonlySet<string> = new Set([
  "oauth_github_client_secret",
  "oauth_google_client_secret",
  "zoho_noreply_email_password",
  "opentopography_api_key",
  "climate_engine_api_key",
  "discord_bot_token",
]);

/** The secrets among `names` another party issues and config does not set: written empty, their feature off. */
export function unsetIssued(names: string[], provided: Record<string, string>): string[] {
  return names.filter((n) => !(n in provided) && ISSUED_ELSEWHERE.has(n));
}

/** Names that hold a secret by wepppy's conventions; one the table does not know is refused rather than guessed. */
export function looksSecret(variable: string): boolean {
  return variable in ENV_SECRET_VARIABLES || /PASSWORD|PASSPHRASE|SECRET|TOKEN|PRIVATE|API_KEY|SALT|CREDENTIAL/i.test(variable);
}

/** One `${VAR}` in a compose file, and where. */
export interface VariableUse extends Interpolation {
  /** The compose file, as the stack names it (config.compose.files). */
  file: string;
  /** The service whose definition holds it; undefined for a top-level section (volumes, secrets, ...). */
  service?: string;
  /** Key path, e.g. services.weppcloud.environment.CAP_SITE_KEY. */
  at: string;
}

/** Top-level sections compose interpolates besides services (x- extensions are only anchors, merged into services). */
const TOP_LEVEL = ["volumes", "networks", "secrets", "configs"];

/** Every interpolation compose performs in a document (merged, as readComposeDocument returns it). */
export function variableUses(doc: Json, file = composeSource(doc)): VariableUse[] {
  const out: VariableUse[] = [];
  const scan = (value: unknown, at: string, service?: string) => {
    for (const [where, text] of stringsIn(value, at)) {
      let found: Interpolation[];
      try {
        found = interpolations(text);
      } catch (err) {
        throw new Error(`${file}: ${service ? `service ${service}: ` : ""}${where}: ${(err as Error).message}`);
      }
      for (const i of found) out.push({ ...i, file, service, at: where });
    }
  };
  for (const [name, svc] of Object.entries(composeServices(doc))) scan(svc, `services.${name}`, name);
  for (const section of TOP_LEVEL) if (doc[section] !== undefined) scan(doc[section], section);
  return out;
}

export type SecretDelivery = "files" | "env" | "both" | "none";

export interface ComposeLayout {
  /** The compose files, in `-f` order. */
  files: string[];
  /** Secrets compose reads from ./secrets/ (today's layout), with the services that mount each. */
  secretFiles: Array<ComposeSecret & { composeFile: string; services: string[] }>;
  /** Stack secrets the files interpolate from .env (older layouts), by variable. */
  envSecrets: Array<{ variable: string; secret: string; uses: Array<{ file: string; service?: string }> }>;
  secretDelivery: SecretDelivery;
  /** Services running Caddy (by name or image); empty: no reverse proxy (older layouts). */
  caddy: Array<{ file: string; service: string }>;
  /** Every interpolation, for checkSupply. */
  uses: VariableUse[];
  /** Things an operator should know about this layout (no values, names only). */
  notes: string[];
}

function isCaddy(name: string, svc: Json): boolean {
  return name === "caddy" || (typeof svc.image === "string" && /(^|\/)caddy([:@]|$)/.test(svc.image));
}

/** Recognises the layout of a release's compose files (documents from readComposeDocument). */
export function composeLayout(files: Array<{ name: string; doc: Json }>): ComposeLayout {
  const secretFiles: ComposeLayout["secretFiles"] = [];
  const uses: VariableUse[] = [];
  const caddy: ComposeLayout["caddy"] = [];
  for (const { name, doc } of files) {
    const services = composeServices(doc);
    for (const s of secretsInDirectory(doc)) {
      const users = Object.entries(services)
        .filter(([, svc]) => (Array.isArray(svc.secrets) ? svc.secrets : []).some((x) => (typeof x === "string" ? x : (x as Json)?.source) === s.name))
        .map(([n]) => n);
      secretFiles.push({ ...s, composeFile: name, services: users });
    }
    for (const [service, svc] of Object.entries(services)) if (isCaddy(service, svc)) caddy.push({ file: name, service });
    uses.push(...variableUses(doc, name));
  }
  const byVariable = new Map<string, ComposeLayout["envSecrets"][number]>();
  for (const u of uses) {
    const secret = ENV_SECRET_VARIABLES[u.variable];
    if (!secret) continue;
    const entry = byVariable.get(u.variable) ?? { variable: u.variable, secret, uses: [] };
    if (!entry.uses.some((x) => x.file === u.file && x.service === u.service)) entry.uses.push({ file: u.file, service: u.service });
    byVariable.set(u.variable, entry);
  }
  const envSecrets = [...byVariable.values()].sort((a, b) => a.variable.localeCompare(b.variable));
  const secretDelivery: SecretDelivery =
    secretFiles.length > 0 && envSecrets.length > 0 ? "both" : secretFiles.length > 0 ? "files" : envSecrets.length > 0 ? "env" : "none";

  const notes: string[] = [];
  if (caddy.length === 0) {
    notes.push(`no Caddy service in ${files.map((f) => f.name).join(", ")}: blue/green cannot run on this layout, and a smoke test through Caddy has nothing to reach`);
  }
  if (envSecrets.length > 0) {
    const envFileUsers = files.flatMap(({ name, doc }) =>
      Object.entries(composeServices(doc))
        .filter(([, svc]) => stringsIn(svc.env_file, "env_file").some(([, t]) => /WEPPPY_ENV_FILE|(^|\/)\.env$/.test(t)))
        .map(([service]) => `${name}:${service}`),
    );
    notes.push(
      `secrets reach the services through .env (${envSecrets.map((e) => e.variable).join(", ")})` +
        (envFileUsers.length > 0 ? `; with WEPPPY_ENV_FILE=.env every service that reads it as env_file (${envFileUsers.length}: ${envFileUsers.slice(0, 4).join(", ")}${envFileUsers.length > 4 ? ", ..." : ""}) gets all of them in its environment` : ""),
    );
  }
  return { files: files.map((f) => f.name), secretFiles, envSecrets, secretDelivery, caddy, uses, notes };
}

/** The stack secrets a layout needs: its secret files and the secrets behind its env secrets. */
export function stackSecretNames(layout: ComposeLayout): string[] {
  return [...new Set([...layout.secretFiles.map((s) => s.name), ...layout.envSecrets.map((e) => e.secret)])].sort();
}

/** What the stack puts in the env file and its secrets, by name only (values are not needed to judge). */
export interface Supply {
  /**
   * Variables the project's .env will define, with their (non-secret) values: defaults.env's
   * keys where the env file is rendered over it, the stack's env values, adopted plain values.
   */
  env: Record<string, string>;
  /** Stack secrets that have a value. */
  secrets: string[];
  /** Stack secrets written empty (issued elsewhere and not set): a `:?` use of one is refused. */
  emptySecrets?: string[];
}

export interface Unsupplied {
  file: string;
  service?: string;
  variable: string;
  /** The use as written, e.g. `${CAP_SITE_KEY}`. */
  text: string;
  /** `${VAR:?err}` / `${VAR?err}`: compose refuses to run without it (a plain `${VAR}` it substitutes empty, with a warning). */
  required: boolean;
  /** One line: file, service, variable and why. */
  message: string;
}

/** Whether the use is evaluated at all, given which variables are set (`${A:-${B}}` reads B only when A is unset). */
function reached(u: Interpolation, isSet: (v: string) => boolean): boolean {
  return u.guards.every((g) => (g.when === "set" ? isSet(g.variable) : !isSet(g.variable)));
}

/** Every use of a variable the stack cannot supply: a plain `${VAR}` / `$VAR` or a `${VAR:?err}`. */
export function unsupplied(layout: ComposeLayout, supply: Supply): Unsupplied[] {
  const secrets = new Set(supply.secrets);
  const empty = new Set(supply.emptySecrets ?? []);
  const valueOf = (v: string): string | undefined => {
    if (v in supply.env) return supply.env[v];
    const secret = ENV_SECRET_VARIABLES[v];
    if (secret && secrets.has(secret)) return "(secret)";
    if (secret && empty.has(secret)) return "";
    return undefined;
  };
  const isSet = (v: string) => valueOf(v) !== undefined;
  const out: Unsupplied[] = [];
  const seen = new Set<string>();
  for (const u of layout.uses) {
    if (u.form !== "plain" && u.form !== "required") continue;
    if (!reached(u, isSet)) continue;
    const value = valueOf(u.variable);
    const missing = value === undefined || (u.form === "required" && u.colon && value === "");
    if (!missing) continue;
    const key = `${u.file}\0${u.service}\0${u.variable}\0${u.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const where = `${u.file}: ${u.service ? `service ${u.service}` : u.at.split(".").slice(0, 2).join(".")}`;
    const secret = ENV_SECRET_VARIABLES[u.variable];
    let why: string;
    if (secret) why = `the stack has no value for its secret ${secret} (set it with pulumi config set --secret --path 'wepppy-cicd:secrets.${secret}')`;
    else if (value === "") why = "the stack supplies it empty";
    else if (looksSecret(u.variable)) why = `it looks like a secret, and the stack supplies env secrets only under the names it knows (ENV_SECRET_VARIABLES in render/composeLayout.ts)`;
    else why = "the stack supplies no value (not in the env file's defaults, the stack's env values or its secrets)";
    const what = u.form === "required" ? `${u.text} requires ${u.variable}` : `${u.text} has no default`;
    out.push({ file: u.file, service: u.service, variable: u.variable, text: u.text, required: u.form === "required", message: `${where}: ${what}, and ${why}` });
  }
  return out;
}

/**
 * Refuses (throws, one line per use) a layout that requires a variable the stack cannot supply,
 * as compose would refuse it on the host; call it before any host command. Returns the plain
 * uses the stack leaves unset, which compose runs with empty values (and warns about).
 */
export function checkSupply(layout: ComposeLayout, supply: Supply): Unsupplied[] {
  const all = unsupplied(layout, supply);
  const missing = all.filter((m) => m.required);
  if (missing.length > 0) {
    throw new Error(`the compose files need values the stack cannot supply; refused before any host command:\n${missing.map((m) => `  - ${m.message}`).join("\n")}`);
  }
  return all.filter((m) => !m.required);
}

/** Refuses what the stack's settings ask of a layout that cannot do it. */
export function checkLayoutFor(layout: ComposeLayout, settings: { bluegreen: boolean }): void {
  if (settings.bluegreen && layout.caddy.length === 0) {
    throw new Error(`bluegreen.enabled needs a Caddy service to switch traffic, and ${layout.files.join(", ")} have none (an older compose layout): turn blue/green off for this release`);
  }
}

/**
 * A value as one `KEY=value` line of a .env that compose v2 (and v1) reads back unchanged:
 * printable ASCII without whitespace, quotes, `$`, `#` or `\`, which .env parsers interpret.
 * Trailing newlines are dropped first: a secret file usually ends in one, and the readers
 * drop them too (the postgres image reads POSTGRES_PASSWORD_FILE with `$(< file)`).
 */
export function envSafeValue(value: string): string | undefined {
  const v = value.replace(/(?:\r?\n)+$/, "");
  return /^[\x21-\x7e]*$/.test(v) && !/["'`$#\\]/.test(v) ? v : undefined;
}

export interface LayoutSecrets {
  /** Secret file name (in ./secrets/) -> content. Secret. */
  files: Record<string, string>;
  /** .env additions (VARIABLE -> value). Secret: write them only through the secret path. */
  env: Record<string, string>;
}

/**
 * From the stack's secret values (name -> value, as WepppySecrets gives them), the secret
 * files and .env entries this layout reads. Throws, naming the secret and where it is used
 * (never a value), when a secret is missing or cannot be carried by .env.
 */
export function layoutSecretValues(layout: ComposeLayout, values: Record<string, string>): LayoutSecrets {
  const files: Record<string, string> = {};
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const s of layout.secretFiles) {
    const name = s.file.slice("./secrets/".length);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) problems.push(`${s.composeFile}: secret ${s.name} is read from ${s.file}; only files directly in ./secrets/ with plain names can be written`);
    else if (!(s.name in values)) problems.push(`${s.composeFile}: secret ${s.name} (${s.file}, mounted by ${s.services.join(", ") || "no service"}) has no value in the stack`);
    else files[name] = values[s.name];
  }
  for (const e of layout.envSecrets) {
    const where = e.uses.map((u) => `${u.file}: ${u.service ? `service ${u.service}` : "top level"}`).join("; ");
    if (!(e.secret in values)) {
      problems.push(`${where}: ${e.variable} needs the stack secret ${e.secret}, which has no value`);
      continue;
    }
    const safe = envSafeValue(values[e.secret]);
    if (safe === undefined) {
      problems.push(`${where}: the stack secret ${e.secret} cannot be written to .env as ${e.variable}: it holds whitespace, a quote, '$', '#' or '\\', which compose's .env parsing would change`);
      continue;
    }
    env[e.variable] = safe;
  }
  if (problems.length > 0) throw new Error(`secrets for this compose layout:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return { files, env };
}
