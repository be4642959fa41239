import { strict as assert } from "node:assert";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { MemoryStack } from "../../harness/memoryStack";
import {
  NotifyEvent,
  NotifyEventName,
  NotifyPayload,
  backoffMs,
  notificationPayload,
  notify,
  redactUrl,
  retryAfterMs,
  webhookProblem,
} from "../../ops/notify";
import { notifyStack } from "../../ops/notifyStack";
import { release } from "../../ops/release";
import { B, NOW, REPO, TAG_B, checkoutConfig, digest, quiet } from "./fixtures/ops";

const TOKEN = "xoxb-7c1e0d9a4f-hook-token";

interface Received {
  method?: string;
  url?: string;
  type?: string;
  body: unknown;
  at: number;
}

/** What the receiver does with request n (1-based): a status and headers, or drop the connection, or never answer. */
type Answer = { status: number; headers?: Record<string, string>; body?: string } | "drop" | "silent";

/** A real webhook receiver on 127.0.0.1. */
async function receiver(answer: (n: number, req: http.IncomingMessage, body: unknown) => Answer = () => ({ status: 204 })) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      const body = JSON.parse(text || "null");
      received.push({ method: req.method, url: req.url, type: req.headers["content-type"], body, at: Date.now() });
      const a = answer(received.length, req, body);
      if (a === "drop") req.socket.destroy();
      else if (a !== "silent") res.writeHead(a.status, a.headers ?? {}).end(a.body ?? `{"echo":"${req.url}"}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    url: `http://127.0.0.1:${port}/hooks/${TOKEN}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Stand-ins that judge a body as each service documents its webhook: Discord executes a
 * webhook with a JSON `content` of 1-2000 characters (204), else 400 "Cannot send an empty
 * message"; a Slack incoming webhook needs a non-empty `text` (200 "ok"), else 400 "no_text".
 */
function discordAnswer(body: any): Answer {
  const ok = typeof body?.content === "string" && body.content.trim().length > 0 && body.content.length <= 2000;
  const mentions = body?.allowed_mentions === undefined || Array.isArray(body.allowed_mentions.parse);
  return ok && mentions ? { status: 204 } : { status: 400, body: '{"message": "Cannot send an empty message", "code": 50006}' };
}
function slackAnswer(body: any): Answer {
  return typeof body?.text === "string" && body.text.trim().length > 0 ? { status: 200, body: "ok" } : { status: 400, body: "no_text" };
}

const event: NotifyEvent = {
  event: "release",
  action: "release",
  stack: "testprod",
  ok: true,
  image: B,
  digest: digest("b"),
  releaseId: "testprod-20261125-100000",
  tag: "",
  version: "",
  detail: "testprod: live on green",
  time: NOW.toISOString(),
};

/** Fast retries: the behaviour, not the production waits. */
const quick = { baseDelayMs: 20, maxDelayMs: 2000, budgetMs: 5000 };

describe("ops: notify", function () {
  this.timeout(15000);

  it("POSTs the event as JSON with the line Discord (content) and Slack (text) show", async () => {
    const r = await receiver();
    try {
      const outcome = await notify(r.url, event);
      assert.deepEqual(outcome, { sent: true, attempts: 1 });
      assert.equal(r.received.length, 1);
      const { method, url, type, body } = r.received[0];
      assert.deepEqual([method, url, type], ["POST", `/hooks/${TOKEN}`, "application/json"]);
      const payload = body as NotifyPayload;
      assert.deepEqual({ ...payload, content: undefined, text: undefined, allowed_mentions: undefined }, { ...event, content: undefined, text: undefined, allowed_mentions: undefined });
      assert.equal(payload.content, `[ok] release on testprod (testprod-20261125-100000)\ntestprod: live on green\nimage: ${B}`);
      assert.equal(payload.text, payload.content);
      assert.deepEqual(payload.allowed_mentions, { parse: [] });
    } finally {
      await r.close();
    }
  });

  it("every event (deploy, validation, release, promotion, rollback, failure) is accepted by a Discord and a Slack stand-in", async () => {
    const json = (req: http.IncomingMessage) => req.headers["content-type"] === "application/json";
    const discord = await receiver((_n, req, body) => (json(req) ? discordAnswer(body) : { status: 415 }));
    const slack = await receiver((_n, req, body) => (json(req) ? slackAnswer(body) : { status: 400, body: "invalid_payload" }));
    try {
      // The stand-ins are no pushovers: what the services refuse, they refuse.
      assert.equal((discordAnswer({ text: "x" }) as { status: number }).status, 400);
      assert.equal((discordAnswer({ content: "x".repeat(2001) }) as { status: number }).status, 400);
      assert.equal((slackAnswer({ content: "x" }) as { status: number }).status, 400);

      const cases: [NotifyEventName, NotifyEvent["action"], boolean][] = [
        ["deploy", "deploy", true],
        ["validate", "validate", true],
        ["release", "release", true],
        ["promote", "promote", true],
        ["rollback", "rollback", true],
        ["failure", "promote", false],
      ];
      for (const [name, action, ok] of cases) {
        const e = { ...event, event: name, action, ok, stack: "prod", detail: ok ? `${action} done` : "gate failed: <html> & @everyone" };
        for (const [service, r] of [["Discord", discord], ["Slack", slack]] as const) {
          const outcome = await notify(r.url, e, { ...quick, maxAttempts: 1 });
          assert.deepEqual(outcome, { sent: true, attempts: 1 }, `${service} refused ${name}: ${outcome.warning}`);
        }
      }
      assert.equal(discord.received.length, cases.length);
      assert.equal(slack.received.length, cases.length);
      const failure = slack.received.map((x) => x.body as NotifyPayload).find((b) => !b.ok)!;
      assert.match(failure.content, /^\[FAILED\] promote on prod/);
      assert.match(failure.text, /gate failed: &lt;html&gt; &amp; @everyone/, "Slack's control characters escaped");
      assert.deepEqual(failure.allowed_mentions, { parse: [] }, "Discord pings nobody");
    } finally {
      await discord.close();
      await slack.close();
    }
  });

  it("keeps Discord's 2000-character limit on a long detail", () => {
    const p = notificationPayload({ ...event, detail: "x".repeat(5000) });
    assert.equal(p.content.length, 2000);
    assert.ok(p.content.endsWith("…"));
  });

  it("does nothing without a webhook", async () => {
    assert.deepEqual(await notify(undefined, event), { sent: false });
  });

  it("retries a 500 with backoff until it is delivered", async () => {
    const r = await receiver((n) => (n <= 2 ? { status: 500 } : { status: 200 }));
    try {
      const outcome = await notify(r.url, event, quick);
      assert.deepEqual(outcome, { sent: true, attempts: 3 });
      assert.equal(r.received.length, 3);
      assert.deepEqual(r.received[2].body, r.received[0].body, "the same notification each time");
    } finally {
      await r.close();
    }
  });

  it("waits what a 429's Retry-After asks before the next try", async () => {
    const r = await receiver((n) => (n === 1 ? { status: 429, headers: { "retry-after": "1" } } : { status: 204 }));
    try {
      const outcome = await notify(r.url, event, { ...quick, random: () => 0 });
      assert.equal(outcome.sent, true);
      const gap = r.received[1].at - r.received[0].at;
      assert.ok(gap >= 950, `retried after ${gap} ms, before the 1 s Retry-After`);
      assert.ok(gap < 3000, `waited ${gap} ms`);
    } finally {
      await r.close();
    }
  });

  it("gives up at once when Retry-After asks for longer than it waits, and stops after its tries", async () => {
    const long = await receiver(() => ({ status: 429, headers: { "retry-after": "120" } }));
    const down = await receiver(() => ({ status: 503 }));
    try {
      const t0 = Date.now();
      const a = await notify(long.url, event, quick);
      assert.ok(Date.now() - t0 < 1000);
      assert.equal(long.received.length, 1);
      assert.match(a.warning ?? "", /answered 429 and asked to wait 120 s, longer than notify waits \(2 s\)/);

      const b = await notify(down.url, event, { ...quick, maxAttempts: 3 });
      assert.equal(down.received.length, 3, "bounded: three tries");
      assert.deepEqual([b.sent, b.attempts], [false, 3]);
      assert.match(b.warning ?? "", /answered 503 \(3 tries\)/);
    } finally {
      await long.close();
      await down.close();
    }
  });

  it("retries a dropped connection, and never retries a refusal that cannot pass (400)", async () => {
    const flaky = await receiver((n) => (n === 1 ? "drop" : { status: 204 }));
    const bad = await receiver(() => ({ status: 400 }));
    try {
      assert.deepEqual(await notify(flaky.url, event, quick), { sent: true, attempts: 2 });
      const refused = await notify(bad.url, event, quick);
      assert.equal(bad.received.length, 1);
      assert.match(refused.warning ?? "", /answered 400$/);
    } finally {
      await flaky.close();
      await bad.close();
    }
  });

  it("follows a redirect on the same origin, never one to another host, and names no URL", async () => {
    const other = await receiver();
    const moving = await receiver((_n, req) =>
      req.url === "/moved" ? { status: 204 } : req.url?.startsWith("/hooks/") ? { status: 307, headers: { location: "/moved" } } : { status: 404 },
    );
    const away = await receiver(() => ({ status: 308, headers: { location: `http://127.0.0.1:${other.port}/steal/${TOKEN}` } }));
    try {
      assert.deepEqual(await notify(moving.url, event, quick), { sent: true, attempts: 2 });
      assert.deepEqual(moving.received.map((x) => [x.method, x.url]), [["POST", `/hooks/${TOKEN}`], ["POST", "/moved"]]);

      const refused = await notify(away.url, event, quick);
      assert.equal(refused.sent, false);
      assert.deepEqual(other.received, [], "nothing reaches the other host");
      assert.match(refused.warning ?? "", new RegExp(`redirected \\(308\\) to another host, 127\\.0\\.0\\.1:${other.port}: not followed`));
      assert.doesNotMatch(refused.warning ?? "", new RegExp(`${TOKEN}|steal`));
    } finally {
      await other.close();
      await moving.close();
      await away.close();
    }
  });

  it("sends only over https, or http to a loopback address", async () => {
    assert.equal(webhookProblem("https://discord.com/api/webhooks/1/x"), undefined);
    assert.equal(webhookProblem("http://127.0.0.1:8080/x"), undefined);
    assert.equal(webhookProblem("http://localhost/x"), undefined);
    assert.equal(webhookProblem("http://[::1]:9/x"), undefined);
    assert.match(webhookProblem(`http://hooks.example.test/${TOKEN}`) ?? "", /must be https \(http only to a loopback address\), not http to hooks\.example\.test/);
    assert.match(webhookProblem("ftp://x/y") ?? "", /not ftp/);
    const outcome = await notify(`http://hooks.example.test/${TOKEN}`, event);
    assert.deepEqual([outcome.sent, outcome.attempts], [false, 0]);
    assert.doesNotMatch(outcome.warning ?? "", new RegExp(TOKEN));
  });

  it("turns a refusal, a timeout and an unreachable receiver into warnings that never show the URL", async () => {
    const refusing = await receiver(() => ({ status: 500 }));
    const silent = await receiver(() => "silent");
    const closed = await receiver();
    await closed.close();
    try {
      const answered500 = await notify(refusing.url, event, { ...quick, maxAttempts: 2 });
      assert.equal(answered500.sent, false);
      assert.match(answered500.warning ?? "", /answered 500 \(2 tries\)/);

      const t0 = Date.now();
      const timedOut = await notify(silent.url, event, { timeoutMs: 300, maxAttempts: 1 });
      assert.ok(Date.now() - t0 < 3000, "gives up at the timeout");
      assert.match(timedOut.warning ?? "", /no answer in 0.3 s/);

      const refused = await notify(closed.url, event, { ...quick, maxAttempts: 2 });
      assert.match(refused.warning ?? "", /failed: .*\(2 tries\)/);

      for (const o of [answered500, timedOut, refused]) {
        assert.doesNotMatch(o.warning ?? "", new RegExp(TOKEN));
        assert.doesNotMatch(o.warning ?? "", /hooks/);
      }
    } finally {
      await refusing.close();
      await silent.close();
    }
  });

  it("refuses a URL with credentials without sending, and cuts a URL out of any text that quotes it", async () => {
    const r = await receiver();
    try {
      const withCredentials = `http://hookuser:${TOKEN}@127.0.0.1:${r.port}/hooks/${TOKEN}?sig=abcdef0123456789`;
      const outcome = await notify(withCredentials, event);
      assert.equal(outcome.sent, false);
      assert.match(outcome.warning ?? "", /carries credentials/);
      assert.doesNotMatch(outcome.warning!, new RegExp(`${TOKEN}|abcdef0123456789|hookuser`));
      assert.deepEqual(r.received, []);
    } finally {
      await r.close();
    }
    const url = `https://discord.test/api/webhooks/123456789/${TOKEN}?wait=true`;
    const text = `POST ${url} failed; path /api/webhooks/123456789/${TOKEN}; encoded ${encodeURI(url)}`;
    assert.doesNotMatch(redactUrl(text, url), new RegExp(`${TOKEN}|123456789`));
  });

  it("backs off exponentially with full jitter, bounded, and never less than Retry-After", () => {
    const o = { baseDelayMs: 500, maxDelayMs: 15000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, o, () => 0.999999)), [499, 999, 1999, 3999, 7999, 14999]);
    assert.deepEqual([1, 2, 3].map((n) => backoffMs(n, o, () => 0)), [0, 0, 0]);
    assert.equal(backoffMs(1, o, () => 0.5, 3000), 3000);
    assert.equal(retryAfterMs("2"), 2000);
    assert.equal(retryAfterMs("0.5"), 500);
    assert.equal(retryAfterMs(new Date(Date.parse("2026-11-25T10:00:30Z")).toUTCString(), Date.parse("2026-11-25T10:00:00Z")), 30000);
    assert.equal(retryAfterMs("soon"), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });

  it("is called by release on success and failure, and a failed notification is a warning, never a failed release", async () => {
    // 400: a refusal that is not retried, so the release is not kept waiting here.
    const r = await receiver((n) => (n === 1 ? { status: 204 } : { status: 400 }));
    try {
      const config = checkoutConfig("testprod");
      config["wepppy-cicd:notify"] = { value: JSON.stringify({ webhook: r.url }), secret: true };
      const image = `${REPO}:${TAG_B}`;
      const hostReports = () => ({ ok: true, outputs: { imageRef: B } });
      const stack = new MemoryStack("testprod", { config, up: hostReports });
      const ok = await release({ stack, image, now: NOW, actor: "roger", log: quiet });
      assert.equal(ok.ok, true);
      assert.deepEqual(ok.warnings, []);
      const failing = new MemoryStack("testprod", { config, up: () => ({ ok: false, error: "gate failed" }) });
      const failed = await release({ stack: failing, image, now: NOW, actor: "roger", log: quiet });
      assert.equal(failed.ok, false);

      assert.deepEqual(
        r.received.map((x) => {
          const b = x.body as NotifyEvent;
          return [b.event, b.action, b.ok, b.stack, b.image, b.releaseId];
        }),
        [
          ["release", "release", true, "testprod", B, "testprod-20261125-100000"],
          ["failure", "release", false, "testprod", image, "testprod-20261125-100000"],
        ],
      );
      assert.match((r.received[1].body as NotifyEvent).detail, /gate failed/);
      assert.match((r.received[1].body as NotifyPayload).content, /^\[FAILED\] release on testprod/);

      // The second POST got 400: a warning on the result, without the URL.
      assert.equal(failed.warnings.length, 1);
      assert.doesNotMatch(failed.warnings[0], new RegExp(TOKEN));

      const third = await release({ stack: new MemoryStack("testprod", { config, up: hostReports }), image, now: NOW, actor: "roger", log: quiet });
      assert.equal(third.ok, true, "a release whose notification fails still succeeded");
      assert.equal(third.warnings.length, 1);
    } finally {
      await r.close();
    }
  });
  it("announces a stack's deploy or failure to the stack's own webhook, with the image and release its outputs say are live", async () => {
    const r = await receiver();
    try {
      const config = checkoutConfig("testprod");
      config["wepppy-cicd:notify"] = { value: JSON.stringify({ webhook: r.url }), secret: true };
      const outputs = { bluegreen: { live: "green", images: { blue: digest("a"), green: B } }, imageRef: B, imageDigest: digest("b"), release: { id: "testprod-20261125-100000" } };
      const stack = new MemoryStack("testprod", { config, outputs });
      const deployed = await notifyStack({ stack, action: "deploy", ok: true, detail: "master 05ffcab deployed", now: NOW });
      assert.deepEqual([deployed.configured, deployed.outcome.sent], [true, true]);
      const failed = await notifyStack({ stack, action: "validate", ok: false, detail: "create-run dev_unit_1 answered 500", now: NOW });
      assert.equal(failed.outcome.sent, true);
      const bodies = r.received.map((x) => x.body as NotifyPayload);
      assert.deepEqual(
        bodies.map((b) => [b.event, b.action, b.ok, b.stack, b.image, b.digest, b.releaseId, b.time]),
        [
          ["deploy", "deploy", true, "testprod", B, digest("b"), "testprod-20261125-100000", NOW.toISOString()],
          ["failure", "validate", false, "testprod", B, digest("b"), "testprod-20261125-100000", NOW.toISOString()],
        ],
      );
      assert.match(bodies[1].content, /^\[FAILED\] validate on testprod \(testprod-20261125-100000\)\ncreate-run dev_unit_1 answered 500/);

      const silent = new MemoryStack("testprod", { config: Object.fromEntries(Object.entries(checkoutConfig("testprod")).filter(([k]) => k !== "wepppy-cicd:notify")), outputs });
      const none = await notifyStack({ stack: silent, action: "deploy", ok: true, detail: "x", now: NOW });
      assert.deepEqual([none.configured, none.outcome], [false, { sent: false }]);
      assert.equal(r.received.length, 2);
    } finally {
      await r.close();
    }
  });
});
