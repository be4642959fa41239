import { strict as assert } from "node:assert";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { MemoryStack } from "../../harness/memoryStack";
import { NotifyEvent, notify, redactUrl } from "../../ops/notify";
import { release } from "../../ops/release";
import { B, NOW, REPO, TAG_B, checkoutConfig, digest, quiet } from "./fixtures/opsFixtures.test";

const TOKEN = "xoxb-7c1e0d9a4f-hook-token";

interface Received {
  method?: string;
  url?: string;
  type?: string;
  body: unknown;
}

/** A real webhook receiver on 127.0.0.1; `answer` decides the status (undefined: never answer). */
async function receiver(answer: (n: number) => number | undefined = () => 204) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, type: req.headers["content-type"], body: JSON.parse(text || "null") });
      const status = answer(received.length);
      if (status !== undefined) res.writeHead(status).end(`{"echo":"${req.url}"}`);
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

describe("ops: notify", () => {
  it("POSTs the event as JSON to the webhook", async () => {
    const r = await receiver();
    try {
      const outcome = await notify(r.url, event);
      assert.deepEqual(outcome, { sent: true });
      assert.deepEqual(r.received, [{ method: "POST", url: `/hooks/${TOKEN}`, type: "application/json", body: event }]);
    } finally {
      await r.close();
    }
  });

  it("does nothing without a webhook", async () => {
    assert.deepEqual(await notify(undefined, event), { sent: false });
  });

  it("turns a refusal, a timeout and an unreachable receiver into warnings that never show the URL", async () => {
    const refusing = await receiver(() => 500);
    const silent = await receiver(() => undefined);
    const closed = await receiver();
    await closed.close();
    try {
      const answered500 = await notify(refusing.url, event);
      assert.equal(answered500.sent, false);
      assert.match(answered500.warning ?? "", /answered 500/);

      const t0 = Date.now();
      const timedOut = await notify(silent.url, event, { timeoutMs: 300 });
      assert.ok(Date.now() - t0 < 3000, "gives up at the timeout");
      assert.match(timedOut.warning ?? "", /no answer in 0.3 s/);

      const refused = await notify(closed.url, event);
      assert.match(refused.warning ?? "", /failed/);

      for (const o of [answered500, timedOut, refused]) {
        assert.doesNotMatch(o.warning ?? "", new RegExp(TOKEN));
        assert.doesNotMatch(o.warning ?? "", /hooks/);
      }
    } finally {
      await refusing.close();
      await silent.close();
    }
  });

  it("cuts the URL and its credentials out of an error that quotes them", async () => {
    const r = await receiver();
    try {
      // fetch refuses a URL with credentials, quoting the URL in its error.
      const withCredentials = `http://hookuser:${TOKEN}@127.0.0.1:${r.port}/hooks/${TOKEN}?sig=abcdef0123456789`;
      const outcome = await notify(withCredentials, event);
      assert.equal(outcome.sent, false);
      assert.ok(outcome.warning);
      assert.doesNotMatch(outcome.warning!, new RegExp(TOKEN));
      assert.doesNotMatch(outcome.warning!, /abcdef0123456789|hookuser/);
      assert.deepEqual(r.received, []);
    } finally {
      await r.close();
    }
    const url = `https://discord.test/api/webhooks/123456789/${TOKEN}?wait=true`;
    const text = `POST ${url} failed; path /api/webhooks/123456789/${TOKEN}; encoded ${encodeURI(url)}`;
    assert.doesNotMatch(redactUrl(text, url), new RegExp(`${TOKEN}|123456789`));
  });

  it("is called by release on success and failure, and a failed notification is a warning, never a failed release", async () => {
    const r = await receiver((n) => (n === 1 ? 204 : 503));
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

      // The second POST got 503: a warning on the result, without the URL.
      assert.equal(failed.warnings.length, 1);
      assert.doesNotMatch(failed.warnings[0], new RegExp(TOKEN));

      const third = await release({ stack: new MemoryStack("testprod", { config, up: hostReports }), image, now: NOW, actor: "roger", log: quiet });
      assert.equal(third.ok, true, "a release whose notification fails still succeeded");
      assert.equal(third.warnings.length, 1);
    } finally {
      await r.close();
    }
  });
});
