import { BLUEGREEN, Colour, TrafficState, allStates, colourUpstream, markerName, otherColour, stateId } from "./constants";

/**
 * Blue/green for wepppy's own Caddyfile, as a text transformation (text in, text out).
 *
 * Every `reverse_proxy weppcloud:8000` and `forward_auth weppcloud:8000` becomes one copy
 * per traffic state, each copy guarded by a named matcher on a request variable; the
 * variable is set once per request, at the top of the site, from which marker file
 * exists in the marker directory (the `file` matcher: a stat per request, no reload).
 *
 * Why a variable and not the file matcher on each copy: a request then sees one state
 * from start to end, so `forward_auth` (which falls through to the next handler when the
 * user is allowed) can never run on neither colour or on both when the marker changes
 * in the middle of a request, and a marker change is one `rename(2)` on the host.
 *
 * Every other line of each site block is kept as it was. Only directives and matchers
 * that exist in Caddy 2.6 (Debian) and 2.10 (caddy:2-alpine) are used: `file`, `vars`
 * (directive and matcher), `not`, and `lb_policy random` for canary steps (weighted by
 * repeating an upstream; `weighted_round_robin` exists only from 2.8).
 */

export interface BlueGreenOptions {
  /** The app upstream to replace. Default weppcloud:8000. */
  app?: string;
  /** The upstream of each colour. Default weppcloud-blue:8000 / weppcloud-green:8000. */
  upstreams?: Record<Colour, string>;
  /** The marker directory as Caddy sees it. Default /srv/bluegreen. */
  markerDir?: string;
  /** Canary percentages (multiples of 5) to support, in both directions. Default none. */
  canaryPercents?: readonly number[];
  /**
   * A file inside the Caddy container (e.g. accessLogPath()) that receives a JSON access
   * log of every site the transformation touched: the host counts 5xx responses in it
   * after a switch. Default: no log added.
   */
  accessLog?: string;
}

const PROXY_DIRECTIVES = new Set(["reverse_proxy", "forward_auth"]);

/** Tokens of one Caddyfile line, quotes kept, comment dropped. */
export function lineTokens(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    if (line[i] === "#") break;
    let tok = "";
    if (line[i] === '"' || line[i] === "`") {
      const q = line[i];
      tok += line[i++];
      while (i < line.length && line[i] !== q) {
        if (q === '"' && line[i] === "\\" && i + 1 < line.length) tok += line[i++];
        tok += line[i++];
      }
      if (i < line.length) tok += line[i++];
    }
    while (i < line.length && !/\s/.test(line[i])) tok += line[i++];
    tokens.push(tok);
  }
  return tokens;
}

export function opensBlock(tokens: string[]): boolean {
  return tokens.length > 0 && tokens[tokens.length - 1] === "{";
}

function closesBlock(tokens: string[]): boolean {
  return tokens.length > 0 && tokens[0] === "}";
}

export function indentOf(line: string): string {
  return /^\s*/.exec(line)![0];
}

/** Strip a scheme, so that http://weppcloud:8000 counts as the app upstream too. */
export function bareAddress(token: string): string {
  return token.replace(/^(https?|h2c):\/\//, "");
}

/** Index of the line closing the block opened at `start` (which must open one). */
export function blockEnd(lines: string[], start: number): number {
  let depth = 0;
  for (let i = start; i < lines.length; i++) {
    const t = lineTokens(lines[i]);
    if (closesBlock(t)) depth--;
    if (opensBlock(t)) depth++;
    if (depth === 0) return i;
  }
  throw new Error(`Caddyfile: the block opened on line ${start + 1} is never closed`);
}

function matcherName(s: TrafficState): string {
  return `@${BLUEGREEN.matcherPrefix}${stateId(s).replace(/-/g, "_")}`;
}

function markerMatcherName(s: TrafficState): string {
  return `@${BLUEGREEN.matcherPrefix}marker_${stateId(s).replace(/-/g, "_")}`;
}

/** Upstream list for a state: one colour, or a repeated list whose share is the canary's. */
export function stateUpstreams(s: TrafficState, upstreams: Record<Colour, string>): string[] {
  if (s.kind === "all") return [upstreams[s.colour]];
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(s.percent, 100 - s.percent);
  const canary = s.percent / g;
  const rest = (100 - s.percent) / g;
  return [...Array(rest).fill(upstreams[otherColour(s.colour)]), ...Array(canary).fill(upstreams[s.colour])];
}

/** The lines that pick the state of a request, inserted at the top of a site block. */
function stateLines(indent: string, states: TrafficState[], markerDir: string): string[] {
  const unit = indent === "" ? "\t" : indent;
  const [def, ...others] = states;
  const v = BLUEGREEN.variable;
  const out = [
    `${indent}# blue/green (wepppy-cicd): the marker file in ${markerDir} picks the colour, per request, with no reload.`,
    `${indent}# No marker: ${stateId(def)}. Markers: ${others.map((s) => `${markerName(s)} -> ${stateId(s)}`).join(", ")}.`,
  ];
  for (const s of others) {
    out.push(`${indent}${markerMatcherName(s)} file {`, `${indent}${unit}root ${markerDir}`, `${indent}${unit}try_files /${markerName(s)}`, `${indent}}`);
    out.push(`${indent}vars ${markerMatcherName(s)} ${v} ${stateId(s)}`);
  }
  for (const s of others) out.push(`${indent}${matcherName(s)} vars ${v} ${stateId(s)}`);
  out.push(`${indent}${matcherName(def)} not vars ${v} ${others.map(stateId).join(" ")}`);
  return out;
}

/**
 * The access log block. Rolled at a small size: the host reads only what was written since
 * a switch, and the file lives in a directory the host keeps, not in the container.
 */
function accessLogLines(indent: string, file: string, why = "blue/green (wepppy-cicd): the host counts 5xx responses in this log after a switch."): string[] {
  const unit = indent === "" ? "\t" : indent;
  return [
    `${indent}# ${why}`,
    `${indent}log {`,
    `${indent}${unit}output file ${file} {`,
    `${indent}${unit}${unit}roll_size 20MiB`,
    `${indent}${unit}${unit}roll_keep 2`,
    `${indent}${unit}}`,
    `${indent}${unit}format json`,
    `${indent}}`,
  ];
}

/** Whether the block from `start` (its opening line) to `end` (its closing line) has `name` at its own level. */
function hasDirective(lines: string[], start: number, end: number, name: string): boolean {
  let depth = 0;
  for (let i = start + 1; i < end; i++) {
    const t = lineTokens(lines[i]);
    if (closesBlock(t)) depth--;
    if (depth === 0 && t[0] === name) return true;
    if (opensBlock(t)) depth++;
  }
  return false;
}

export interface TransformResult {
  caddyfile: string;
  /** One entry per replaced directive: its line (1-based, in the input) and name. */
  replaced: { line: number; directive: string }[];
  /** The site addresses that received the state lines. */
  sites: string[];
  states: string[];
  /** What an operator should look at: e.g. a site whose own log directive was kept instead of the access log. */
  warnings: string[];
}

/**
 * Turn a production Caddyfile into its blue/green form. Throws when the app upstream is
 * used in a form this cannot rewrite safely (another matcher on the directive, other
 * upstreams beside it, a `to` line, outside a site block), so that no route is ever left
 * pointing at the single-colour service.
 */
export function blueGreenCaddyfile(input: string, options: BlueGreenOptions = {}): TransformResult {
  const app = options.app ?? `${BLUEGREEN.app.service}:${BLUEGREEN.app.port}`;
  const upstreams = options.upstreams ?? { blue: colourUpstream("blue"), green: colourUpstream("green") };
  const markerDir = options.markerDir ?? BLUEGREEN.markerDir;
  const states = allStates(options.canaryPercents ?? []);
  const accessLog = options.accessLog;
  // A Caddyfile token ends at whitespace; a relative path would follow Caddy's working directory.
  if (accessLog !== undefined && !/^\/[^\s{}"`#]*$/.test(accessLog)) {
    throw new Error(`access log '${accessLog}': expected an absolute path without spaces, quotes, braces or '#'`);
  }
  if (input.includes(BLUEGREEN.matcherPrefix + "marker_")) throw new Error("Caddyfile: already transformed for blue/green");
  const eol = input.includes("\r\n") ? "\r\n" : "\n";
  const lines = input.split(/\r?\n/);
  const out: string[] = [];
  const replaced: TransformResult["replaced"] = [];
  const sites: string[] = [];
  const warnings: string[] = [];

  // Emit lines[from..to] (inclusive), rewriting app proxies; `depth` is the block depth at `from`.
  const emitBody = (from: number, to: number, site: string | null): void => {
    for (let i = from; i <= to; i++) {
      const line = lines[i];
      const t = lineTokens(line);
      if (t.length > 0 && PROXY_DIRECTIVES.has(t[0]) && t.slice(1).some((x) => bareAddress(x) === app)) {
        if (site === null) throw new Error(`Caddyfile line ${i + 1}: ${t[0]} ${app} outside a site block`);
        const args = t.slice(1, opensBlock(t) ? -1 : undefined);
        const matcher = args.length > 0 && /^[@/*]/.test(args[0]) ? args[0] : null;
        if (matcher) {
          throw new Error(`Caddyfile line ${i + 1}: ${t[0]} ${matcher} ${app}: a matcher on the app proxy cannot be combined with the colour matcher; wrap it in handle ${matcher} { ... }`);
        }
        if (args.some((x) => bareAddress(x) !== app)) {
          throw new Error(`Caddyfile line ${i + 1}: ${t[0]} has upstreams beside ${app}; only a proxy to ${app} alone is rewritten`);
        }
        const end = opensBlock(t) ? blockEnd(lines, i) : i;
        const body = opensBlock(t) ? lines.slice(i + 1, end) : [];
        const indent = indentOf(line);
        const inner = body.find((l) => l.trim() !== "") ? indentOf(body.find((l) => l.trim() !== "")!) : indent + "\t";
        const bodyTokens = body.map(lineTokens);
        if (bodyTokens.some((bt) => bt[0] === "to" || bt[0] === "dynamic")) {
          throw new Error(`Caddyfile line ${i + 1}: ${t[0]} ${app} has a 'to' or 'dynamic' line; only upstreams on the directive line are rewritten`);
        }
        const hasPolicy = bodyTokens.some((bt) => bt[0] === "lb_policy");
        // Most specific first; the default state last (order matters inside `route`).
        for (const s of [...states.slice(1), states[0]]) {
          const ups = stateUpstreams(s, upstreams);
          const extra = ups.length > 1 ? [`${inner}lb_policy random`] : [];
          if (extra.length && hasPolicy) throw new Error(`Caddyfile line ${i + 1}: ${t[0]} ${app} sets lb_policy; canary steps need their own`);
          const head = `${indent}${t[0]} ${matcherName(s)} ${ups.join(" ")}`;
          if (body.length === 0 && extra.length === 0) out.push(head);
          else out.push(`${head} {`, ...extra, ...body, `${indent}}`);
        }
        replaced.push({ line: i + 1, directive: t[0] });
        i = end;
        continue;
      }
      out.push(line);
    }
  };

  let i = 0;
  while (i < lines.length) {
    const t = lineTokens(lines[i]);
    if (!opensBlock(t)) {
      out.push(lines[i]);
      i++;
      continue;
    }
    const end = blockEnd(lines, i);
    const isGlobal = t.length === 1;
    const isSnippet = /^&?\(.*\)$/.test(t[0]);
    if (isGlobal || isSnippet) {
      emitBody(i, end, null);
    } else {
      const site = t.slice(0, -1).join(" ");
      const before = replaced.length;
      const start = out.length;
      out.push(lines[i]);
      emitBody(i + 1, end, site);
      if (replaced.length > before) {
        const firstBody = lines.slice(i + 1, end).find((l) => l.trim() !== "");
        const indent = firstBody ? indentOf(firstBody) : "\t";
        const log: string[] = [];
        if (accessLog !== undefined) {
          // Of two log directives in one site Caddy 2.6 uses only the last as the site's logger (the
          // other silently logs nothing), so adding ours would switch the operator's log off.
          if (hasDirective(lines, i, end, "log")) {
            warnings.push(`${site}: has its own log directive, so no access log was added; the analysis window reads ${accessLog}: make that log write JSON there`);
          } else {
            log.push(...accessLogLines(indent, accessLog), "");
          }
        }
        out.splice(start + 1, 0, ...stateLines(indent, states, markerDir), "", ...log);
        sites.push(site);
      }
    }
    i = end + 1;
  }
  const result = out.join(eol);
  const left = result.split(/\r?\n/).flatMap(lineTokens).filter((x) => bareAddress(x) === app);
  if (left.length > 0) throw new Error(`Caddyfile: ${app} is still used after the transformation (${left.length} time(s)), in a form not rewritten`);
  if (replaced.length === 0) throw new Error(`Caddyfile: no reverse_proxy or forward_auth to ${app} found`);
  return { caddyfile: result, replaced, sites, states: states.map(stateId), warnings };
}

/**
 * A one-colour Caddyfile with the JSON access log added to every site block that has no log
 * of its own (its own would be switched off by a second one, see above): the soak counts 5xx
 * answers in it. Every other line is kept as it was.
 */
export function withAccessLog(input: string, file: string): { caddyfile: string; sites: string[]; warnings: string[] } {
  if (!/^\/[^\s{}"`#]*$/.test(file)) throw new Error(`access log '${file}': expected an absolute path without spaces, quotes, braces or '#'`);
  const eol = input.includes("\r\n") ? "\r\n" : "\n";
  const lines = input.split(/\r?\n/);
  const out: string[] = [];
  const sites: string[] = [];
  const warnings: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const t = lineTokens(lines[i]);
    if (!opensBlock(t)) {
      out.push(lines[i++]);
      continue;
    }
    const end = blockEnd(lines, i);
    const isGlobal = t.length === 1;
    const isSnippet = /^&?\(.*\)$/.test(t[0]);
    out.push(lines[i]);
    if (!isGlobal && !isSnippet) {
      const site = t.slice(0, -1).join(" ");
      if (hasDirective(lines, i, end, "log")) warnings.push(`${site}: has its own log directive, so no access log was added; the soak reads ${file}: make that log write JSON there`);
      else {
        const firstBody = lines.slice(i + 1, end).find((l) => l.trim() !== "");
        out.push(...accessLogLines(firstBody ? indentOf(firstBody) : "\t", file, "wepppy-cicd: the host counts 5xx responses in this log during a soak."), "");
        sites.push(site);
      }
    }
    out.push(...lines.slice(i + 1, end + 1));
    i = end + 1;
  }
  return { caddyfile: out.join(eol), sites, warnings };
}

/**
 * The same Caddyfile with the app upstream pointed at one address and nothing else
 * changed: what a config-reload switch (POST /load) would alternate between.
 */
export function singleUpstreamCaddyfile(input: string, upstream: string, options: { app?: string } = {}): string {
  const app = options.app ?? `${BLUEGREEN.app.service}:${BLUEGREEN.app.port}`;
  return input
    .split("\n")
    .map((line) => {
      const t = lineTokens(line);
      if (t.length === 0 || !PROXY_DIRECTIVES.has(t[0])) return line;
      return line.replace(/(\s)((?:https?:\/\/|h2c:\/\/)?)([^\s{}]+)(?=\s|$)/g, (m, sp: string, scheme: string, addr: string) =>
        addr === app ? `${sp}${scheme}${upstream}` : m,
      );
    })
    .join("\n");
}
