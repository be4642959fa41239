import { digestOf } from "../render/images";
import { isObject, sectionObject } from "./configMap";
import { NotifyEvent, NotifyOptions, NotifyOutcome, notify } from "./notify";
import { liveFromOutputs } from "./release";
import type { StackHandle } from "./stackHandle";

/*
 * What a workflow step announces about a stack (a deploy, a validation, a failure): the
 * webhook is read from the stack's own config (notify.webhook, secret), so it never lives
 * in GitHub; the image and release default to what the stack's outputs say is live.
 * For a `wepppy-cicd notify` subcommand to call.
 */

export interface StackNotice {
  stack: StackHandle;
  /** What happened; a failed one is sent as event "failure" with this action. */
  action: NotifyEvent["action"];
  ok: boolean;
  /** One line for people (at most 1000 characters are sent). */
  detail: string;
  image?: string;
  releaseId?: string;
  tag?: string;
  version?: string;
  now: Date;
  /** The transport (default: notify, with its retries). */
  send?: (url: string | undefined, event: NotifyEvent, options?: NotifyOptions) => Promise<NotifyOutcome>;
  options?: NotifyOptions;
}

export interface StackNoticeResult {
  event: NotifyEvent;
  outcome: NotifyOutcome;
  /** Whether the stack has a webhook at all. */
  configured: boolean;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export async function notifyStack(n: StackNotice): Promise<StackNoticeResult> {
  const config = await n.stack.getAllConfig();
  const webhook = str(sectionObject(config, "notify")?.webhook) || undefined;
  let outputs: Awaited<ReturnType<StackHandle["outputs"]>> = {};
  try {
    outputs = await n.stack.outputs();
  } catch {
    // a stack never updated has no outputs: the notice carries what it was given
  }
  const live = liveFromOutputs(outputs);
  const release = isObject(outputs.release?.value) ? (outputs.release!.value as Record<string, unknown>) : {};
  const image = n.image ?? live.image ?? "";
  const event: NotifyEvent = {
    event: n.ok ? n.action : "failure",
    action: n.action,
    stack: n.stack.name,
    ok: n.ok,
    image,
    digest: digestOf(image),
    releaseId: n.releaseId ?? str(release.id),
    tag: n.tag ?? str(release.tag),
    version: n.version ?? str(release.version),
    detail: n.detail.length > 1000 ? `${n.detail.slice(0, 999)}…` : n.detail,
    time: n.now.toISOString(),
  };
  const send = n.send ?? notify;
  const outcome = await send(webhook, event, n.options);
  return { event, outcome, configured: webhook !== undefined };
}
