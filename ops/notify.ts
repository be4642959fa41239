/*
 * Announcements: a JSON POST to the stack's notify.webhook that a Discord webhook and a
 * Slack incoming webhook both accept (Discord reads `content`, Slack reads `text`; each
 * ignores the other's field and the event's own fields, which agents read). A refusal that
 * may pass (429, 5xx, 408) and a network error are retried with exponential backoff and
 * jitter, waiting at least what Retry-After asks, within a bounded number of tries and
 * time. A redirect is followed only to the same origin. The URL must be https (http only
 * to a loopback address). The URL holds a token, so it is never printed and is cut out of
 * every error text; a notification that fails is a warning, never a failed command.
 */

export type NotifyEventName = "deploy" | "validate" | "release" | "promote" | "hotfix" | "rollback" | "failure";

export interface NotifyEvent {
  event: NotifyEventName;
  /** The command that ran (also set for "failure", so the receiver knows what failed). */
  action: "deploy" | "validate" | "release" | "promote" | "hotfix" | "rollback";
  stack: string;
  ok: boolean;
  image: string;
  digest: string;
  releaseId: string;
  tag: string;
  version: string;
  detail: string;
  /** ISO 8601, UTC. */
  time: string;
}

/** What is posted: the event's fields, plus the line a chat shows. */
export interface NotifyPayload extends NotifyEvent {
  /** Discord's message text (at most 2000 characters). */
  content: string;
  /** Slack's message text (&, < and > escaped as Slack requires). */
  text: string;
  /** Discord: the text pings nobody, whatever a detail quotes (@everyone in a log line). */
  allowed_mentions: { parse: never[] };
}

export interface NotifyOutcome {
  sent: boolean;
  /** Why it was not delivered; the URL is never in it. */
  warning?: string;
  /** POSTs made (redirects followed count as one each). */
  attempts?: number;
}

export interface NotifyOptions {
  /** Per POST. */
  timeoutMs?: number;
  /** Tries in all, the first included. */
  maxAttempts?: number;
  /** The first retry waits up to this; each further one doubles it (full jitter). */
  baseDelayMs?: number;
  /** No wait is longer: a Retry-After beyond it is not waited for (the notification is given up). */
  maxDelayMs?: number;
  /** No retry starts after this much time since the first POST. */
  budgetMs?: number;
  /** Same-origin redirects followed per POST. */
  maxRedirects?: number;
  fetch?: typeof fetch;
  /** [0, 1): the jitter's source. */
  random?: () => number;
}

export const NOTIFY_TIMEOUT_MS = 5000;
export const NOTIFY_DEFAULTS = {
  timeoutMs: NOTIFY_TIMEOUT_MS,
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  budgetMs: 45_000,
  maxRedirects: 3,
} as const;

const DISCORD_MAX = 2000;

/** Every form in which a URL (or its token) can appear in an error, cut out. */
export function redactUrl(text: string, url: string): string {
  const parts = new Set<string>([url]);
  try {
    const u = new URL(url);
    parts.add(u.href);
    parts.add(`${u.origin}${u.pathname}`);
    if (u.pathname.length > 1) parts.add(u.pathname);
    if (u.search) parts.add(u.search);
    if (u.username) parts.add(u.username);
    if (u.password) parts.add(u.password);
    for (const segment of u.pathname.split("/")) if (segment.length >= 8) parts.add(segment);
    for (const value of u.searchParams.values()) if (value.length >= 8) parts.add(value);
  } catch {
    // not a URL: the whole text is cut out, which is all that can be done
  }
  let out = text;
  for (const part of [...parts].filter(Boolean).sort((a, b) => b.length - a.length)) {
    out = out.split(part).join("<webhook>");
    try {
      out = out.split(encodeURI(part)).join("<webhook>");
    } catch {
      // not encodable: already cut as written
    }
  }
  return out;
}

/** One line for people: what happened, where, to which image and release. */
export function notificationLine(e: NotifyEvent): string {
  const verdict = e.ok ? "ok" : "FAILED";
  const release = [e.releaseId, e.tag, e.version].filter(Boolean).join(", ");
  const head = `[${verdict}] ${e.action} on ${e.stack}${release ? ` (${release})` : ""}`;
  const lines = [head, e.detail, e.image ? `image: ${e.image}` : ""].filter((l) => l.trim() !== "");
  return lines.join("\n");
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function notificationPayload(event: NotifyEvent): NotifyPayload {
  const line = cut(notificationLine(event), DISCORD_MAX);
  return {
    ...event,
    content: line,
    text: line.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"),
    allowed_mentions: { parse: [] },
  };
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** Why a webhook URL is refused before anything is sent (the URL itself is never in the reason). */
export function webhookProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "notify.webhook is not a URL";
  }
  if (u.username || u.password) return "notify.webhook carries credentials in the URL; webhooks take their token in the path";
  if (u.protocol === "https:") return undefined;
  if (u.protocol === "http:" && LOOPBACK.test(u.hostname)) return undefined;
  return `notify.webhook must be https (http only to a loopback address), not ${u.protocol.replace(/:$/, "")}${u.protocol === "http:" ? ` to ${u.hostname}` : ""}`;
}

/** Retry-After (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before retry `n` (1 for the first retry): full jitter over an exponential cap, and never less than Retry-After. */
export function backoffMs(n: number, opts: { baseDelayMs: number; maxDelayMs: number }, random: () => number, retryAfter?: number): number {
  const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (n - 1));
  const jittered = Math.floor(random() * cap);
  return retryAfter === undefined ? jittered : Math.max(retryAfter, jittered);
}

function describe(err: unknown, timeoutMs: number): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError" || err.name === "AbortError") return `no answer in ${timeoutMs / 1000} s`;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

const RETRIED = (status: number) => status === 408 || status === 429 || status >= 500;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

type Attempt =
  | { kind: "delivered" }
  | { kind: "refused"; status: number; retryAfter?: number }
  | { kind: "network"; why: string }
  | { kind: "final"; why: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function notify(url: string | undefined, event: NotifyEvent, options: NotifyOptions = {}): Promise<NotifyOutcome> {
  if (!url) return { sent: false };
  const o = { ...NOTIFY_DEFAULTS, ...options };
  const post = options.fetch ?? fetch;
  const random = options.random ?? Math.random;
  const problem = webhookProblem(url);
  if (problem) return { sent: false, warning: `notification not sent: ${problem}`, attempts: 0 };
  const origin = new URL(url).origin;
  const seen = [url];
  const redact = (text: string) => seen.reduce((t, u) => redactUrl(t, u), text);
  const body = JSON.stringify(notificationPayload(event));
  let attempts = 0;

  const once = async (): Promise<Attempt> => {
    let target = url;
    for (let hop = 0; ; hop++) {
      attempts++;
      let res: Response;
      try {
        res = await post(target, {
          method: "POST",
          headers: { "content-type": "application/json", "user-agent": "wepppy-cicd" },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(o.timeoutMs),
        });
      } catch (err) {
        return { kind: "network", why: describe(err, o.timeoutMs) };
      }
      // The answer is not read beyond its status and headers: a receiver could echo the URL back.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { kind: "delivered" };
      if (REDIRECT.has(res.status)) {
        const location = res.headers.get("location");
        let next: URL;
        try {
          next = new URL(location ?? "", target);
        } catch {
          return { kind: "final", why: `the webhook answered ${res.status} with no usable Location` };
        }
        if (!location) return { kind: "final", why: `the webhook answered ${res.status} with no Location` };
        if (next.origin !== origin) {
          return { kind: "final", why: `the webhook redirected (${res.status}) to another host, ${next.host}: not followed; set notify.webhook to the URL the service gives` };
        }
        if (hop >= o.maxRedirects) return { kind: "final", why: `the webhook redirected more than ${o.maxRedirects} times` };
        target = next.href;
        seen.push(target);
        continue;
      }
      if (RETRIED(res.status)) return { kind: "refused", status: res.status, retryAfter: retryAfterMs(res.headers.get("retry-after")) };
      return { kind: "final", why: `the webhook answered ${res.status}` };
    }
  };

  const started = Date.now();
  let last: Attempt = { kind: "final", why: "not tried" };
  for (let n = 1; n <= o.maxAttempts; n++) {
    last = await once();
    if (last.kind === "delivered") return { sent: true, attempts };
    if (last.kind === "final") break;
    if (n === o.maxAttempts) break;
    const retryAfter = last.kind === "refused" ? last.retryAfter : undefined;
    if (retryAfter !== undefined && retryAfter > o.maxDelayMs) {
      return {
        sent: false,
        attempts,
        warning: `notification not delivered: the webhook (notify.webhook) answered ${(last as { status: number }).status} and asked to wait ${Math.ceil(retryAfter / 1000)} s, longer than notify waits (${o.maxDelayMs / 1000} s)`,
      };
    }
    const wait = backoffMs(n, o, random, retryAfter);
    if (Date.now() - started + wait > o.budgetMs) break;
    await sleep(wait);
  }
  const why =
    last.kind === "refused"
      ? `answered ${last.status}`
      : last.kind === "network"
        ? `failed: ${redact(last.why)}`
        : last.kind === "final"
          ? redact(last.why).replace(/^the webhook /, "")
          : "";
  const tries = attempts > 1 ? ` (${attempts} tries)` : "";
  return { sent: false, attempts, warning: `notification not delivered: the webhook (notify.webhook) ${why}${tries}` };
}
