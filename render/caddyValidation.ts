import { BLUEGREEN } from "./bluegreen/constants";
import { bareAddress, blockEnd, indentOf, lineTokens, opensBlock } from "./bluegreen/caddyfile";

/*
 * The test-support API only for the validation client (issue 13). wepppy registers
 * /tests/api (create and delete runs) whenever TEST_SUPPORT_ENABLED is set, on the same app
 * the public reaches. Caddy's client address cannot tell the host's own agent from the
 * public: behind Docker's published port every client arrives from the bridge gateway. So
 * the site that proxies to the app refuses the API (404), and a copy of that site listens
 * on a second port inside the Caddy container, published on the host's loopback only: the
 * agent, which runs with the host's network, reaches it there; nobody else can.
 */

/** The validation listener's port inside the Caddy container. */
export const VALIDATION_LISTENER_PORT = 8081;
/** The compose file that publishes it (staged with each release, after wepppy's own files). */
export const VALIDATION_COMPOSE_FILE = "docker-compose.wepppy-cicd-validation.yml";
const MATCHER = "@wepppy_cicd_test_support";

/** Request paths of the test-support API, bare and under the site prefix (Caddy matches them case-insensitively, cleaned). */
export function testSupportPaths(sitePrefix: string): string[] {
  const prefix = sitePrefix.replace(/\/$/, "");
  return [...new Set(["/tests/api*", `${prefix}/tests/api*`])];
}

/**
 * wepppy's Caddyfile with its app site refusing the test-support API and a copy of that
 * site (every route as it was) on the validation port. Every other line is kept. Throws
 * when no site, or more than one, proxies to the app: the copy must be the one site users reach.
 */
export function withValidationListener(input: string, o: { sitePrefix: string; app?: string }): string {
  const app = o.app ?? `${BLUEGREEN.app.service}:${BLUEGREEN.app.port}`;
  if (input.includes(MATCHER)) throw new Error("Caddyfile: already has the validation listener");
  const eol = input.includes("\r\n") ? "\r\n" : "\n";
  const lines = input.split(/\r?\n/);
  const sites: { start: number; end: number; address: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const t = lineTokens(lines[i]);
    if (!opensBlock(t)) continue;
    const end = blockEnd(lines, i);
    const isGlobal = t.length === 1;
    const isSnippet = /^&?\(.*\)$/.test(t[0]);
    if (!isGlobal && !isSnippet && lines.slice(i + 1, end).some((l) => lineTokens(l).some((x) => bareAddress(x) === app))) {
      sites.push({ start: i, end, address: t.slice(0, -1).join(" ") });
    }
    i = end;
  }
  if (sites.length !== 1) {
    throw new Error(`Caddyfile: ${sites.length === 0 ? "no site proxies" : `${sites.length} sites proxy`} to ${app}; the validation listener copies the one site that does (${sites.map((s) => s.address).join(", ")})`);
  }
  const [site] = sites;
  const body = lines.slice(site.start + 1, site.end);
  const first = body.find((l) => l.trim() !== "");
  const indent = first ? indentOf(first) : "\t";
  const unit = indent === "" ? "\t" : indent;
  const refusal = [
    `${indent}# wepppy-cicd: the test-support API answers only on the validation listener (:${VALIDATION_LISTENER_PORT}, the host's loopback).`,
    `${indent}${MATCHER} path ${testSupportPaths(o.sitePrefix).join(" ")}`,
    `${indent}handle ${MATCHER} {`,
    `${indent}${unit}respond "Not Found" 404`,
    `${indent}}`,
    "",
  ];
  const copy = [
    "",
    `# wepppy-cicd: the validation listener, ${site.address} as it was, published on the host's loopback only.`,
    `http://:${VALIDATION_LISTENER_PORT} {`,
    ...body,
    lines[site.end],
  ];
  const out = [...lines.slice(0, site.start + 1), ...refusal, ...body, lines[site.end], ...copy, ...lines.slice(site.end + 1)];
  return out.join(eol);
}

/** The compose file publishing the validation listener on the host's loopback (`version` as the base file's, which compose v1 requires). */
export function validationComposeDoc(hostPort: number, baseVersion?: unknown): Record<string, unknown> {
  return {
    ...(baseVersion !== undefined ? { version: baseVersion } : {}),
    services: { [BLUEGREEN.caddyService]: { ports: [`127.0.0.1:${hostPort}:${VALIDATION_LISTENER_PORT}`] } },
  };
}

/**
 * wepppy publishes the app's own port on every interface (`${WEPPCLOUD_PORT:-8000}:8000`),
 * which reaches the test-support API around Caddy. With the validation listener the stack
 * binds it to the host's loopback through that same variable (.env), keeping its port.
 * A mapping no variable can confine (a literal public port, the long syntax) is refused.
 */
export function confinedAppPort(docs: Record<string, unknown>[], appService: string, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const doc of docs) {
    const svc = ((doc.services ?? {}) as Record<string, { ports?: unknown[] }>)[appService];
    for (const entry of svc?.ports ?? []) {
      const text = typeof entry === "string" || typeof entry === "number" ? String(entry) : undefined;
      if (text?.startsWith("127.0.0.1:")) continue;
      const m = text ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}:(\d+)$/.exec(text) : null;
      if (!m) {
        throw new Error(
          `compose: ${appService} publishes ${JSON.stringify(entry)} on every interface, which reaches the test-support API around Caddy's validation listener; publish it as "\${WEPPCLOUD_PORT:-8000}:8000" (the stack binds it to 127.0.0.1) or on 127.0.0.1, or turn features.TEST_SUPPORT_ENABLED off`,
        );
      }
      const [, variable, fallback, target] = m;
      const published = (env[variable] ?? fallback ?? target).split(":").pop()!;
      out[variable] = `127.0.0.1:${published}`;
    }
  }
  return out;
}
