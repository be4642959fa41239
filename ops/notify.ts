/*
 * Release announcements: a JSON POST to the stack's notify.webhook. The URL holds a
 * token, so it is never printed and is cut out of every error text; a notification
 * that fails is a warning, never a failed release.
 */

export type NotifyEventName = "release" | "promote" | "rollback" | "failure";

export interface NotifyEvent {
  event: NotifyEventName;
  /** The command that ran (also set for "failure", so the receiver knows what failed). */
  action: "release" | "promote" | "rollback";
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

export interface NotifyOutcome {
  sent: boolean;
  /** Why it was not delivered; the URL is never in it. */
  warning?: string;
}

export interface NotifyOptions {
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export const NOTIFY_TIMEOUT_MS = 5000;

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

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError" || err.name === "AbortError") return "no answer in time";
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

export async function notify(url: string | undefined, event: NotifyEvent, options: NotifyOptions = {}): Promise<NotifyOutcome> {
  if (!url) return { sent: false };
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const post = options.fetch ?? fetch;
  try {
    const res = await post(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "wepppy-cicd" },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The answer is not read beyond its status: a receiver could echo the URL back.
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) return { sent: false, warning: `notification not delivered: the webhook (notify.webhook) answered ${res.status}` };
    return { sent: true };
  } catch (err) {
    const why = describe(err).replace(/no answer in time/, `no answer in ${timeoutMs / 1000} s`);
    return { sent: false, warning: `notification not delivered: the webhook (notify.webhook) failed: ${redactUrl(why, url)}` };
  }
}
