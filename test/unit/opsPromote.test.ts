import { strict as assert } from "node:assert";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { parseStackConfig } from "../../config/load";
import { rawOf } from "../../ops/configMap";
import { MemoryStack } from "../../harness/memoryStack";
import { AuditEntry, findValidation, promote } from "../../ops/promote";
import { parseAuditLines } from "../../ops/hostQueries";
import { A, B, C, NOW, checkoutConfig, digest, notifySpy, quiet, section, update, withSections, writes } from "./fixtures/ops";

const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3600_000).toISOString().replace(/\.000Z$/, "Z");
const validation = (d: string, hours: number, result = "ok"): AuditEntry => ({ time: hoursAgo(hours), action: "validate", result, digest: d, detail: "runs dev_unit_1, pages /weppcloud/" });

const prodAt = (image: string, release: Record<string, unknown> = { id: "prod-20261102-090000" }) => withSections(checkoutConfig("prod"), { image: { digest: image }, release });

function stacks(options: { prodConfig?: ConfigMap; prodOutputs?: Record<string, unknown>; sourceOutputs?: Record<string, unknown>; prodHistory?: ReturnType<typeof update>[] } = {}) {
  const prod = new MemoryStack("prod", {
    // A fresh checkout: the committed stack file, with no digest in it.
    config: options.prodConfig ?? checkoutConfig("prod"),
    history: options.prodHistory ?? [],
    outputs: options.prodOutputs ?? { imageRef: A, bluegreen: { live: "blue", images: { blue: A, green: A } } },
    up: async (c) => ({ ok: true, outputs: { imageRef: section(c, "image").digest, bluegreen: { live: "green", images: { blue: A, green: section(c, "image").digest } } } }),
  });
  const testprod = new MemoryStack("testprod", {
    config: checkoutConfig("testprod"),
    outputs: options.sourceOutputs ?? { imageRef: B, imageDigest: digest("b"), url: "https://wc-prod.bearhive.duckdns.org" },
  });
  const opened: string[] = [];
  const source = async (name: string) => {
    opened.push(name);
    return testprod;
  };
  return { prod, testprod, source, opened };
}

// Every test announces to a spy unless it asks for its own: the fixtures' webhook is not reachable.
const base = { now: NOW, actor: "roger", log: quiet, notify: notifySpy().notify };

describe("ops: promote", () => {
  it("is refused without a passing validation of testprod's live digest in the window, changing nothing", async () => {
    const cases: [string, AuditEntry[], RegExp][] = [
      ["none", [], /no validation of sha256:bbbbbbbbbbbb on testprod/],
      ["too old", [validation(digest("b"), 73)], /older than 72 h/],
      ["failed", [validation(digest("b"), 1, "failed")], /not ok \(failed\)/],
      ["another digest", [validation(digest("c"), 1)], /no validation of sha256:bbbbbbbbbbbb/],
      ["another action", [{ ...validation(digest("b"), 1), action: "deploy" }], /no validation/],
    ];
    for (const [what, entries, why] of cases) {
      const { prod, source } = stacks();
      const asked: string[] = [];
      await assert.rejects(
        promote({ ...base, prod, source, validations: async (d, from) => (asked.push(`${from} ${d}`), entries) }),
        (err: Error) => why.test(err.message) && /--force --reason/.test(err.message),
        what,
      );
      assert.deepEqual(asked, [`testprod ${digest("b")}`], what);
      assert.deepEqual(writes(prod), [], what);
    }
  });

  it("is refused when testprod's audit log cannot be read, unless forced", async () => {
    const { prod, source } = stacks();
    const unreadable = async () => {
      throw new Error("ssh: connect to host forest1 port 22: Connection refused");
    };
    await assert.rejects(promote({ ...base, prod, source, validations: unreadable }), /audit log of testprod could not be read/);
    assert.deepEqual(writes(prod), []);
    const forced = await promote({ ...base, prod, source, validations: unreadable, force: true, reason: "forest1 is down for a disk swap" });
    assert.equal(forced.ok, true);
    assert.match(String(section(prod.config, "release").note), /audit log of testprod could not be read/);
  });

  it("promotes with a fresh validation: testprod's live digest becomes prod's image.digest, tagged and versioned; the host picks the colour", async () => {
    const history = [update(7, "succeeded", prodAt(A, { id: "prod-20261102-090000", version: "2026.11.0" }))];
    const { prod, source, opened } = stacks({ prodHistory: history });
    const spy = notifySpy();
    const result = await promote({ ...base, prod, source, validations: async () => [validation(digest("c"), 1), validation(digest("b"), 71)], notify: spy.notify });
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(opened, ["testprod"]);
    assert.equal(section(prod.config, "image").digest, B);
    assert.equal(section(prod.config, "bluegreen").live, undefined, "no colour in the config: the host decides");
    assert.deepEqual(section(prod.config, "release"), { id: "prod-20261125-100000", tag: "prod-20261125-100000", version: "2026.11.1", actor: "roger" });
    assert.ok(prod.calls.includes("history noSecrets"), "history is read without secrets");
    assert.deepEqual(writes(prod).slice(-1), ["up"]);
    assert.equal(result.live, "green", "the colour the host reported");
    assert.deepEqual(
      spy.sent.map((s) => [s.event.event, s.event.tag, s.event.version, s.event.digest]),
      [["promote", "prod-20261125-100000", "2026.11.1", digest("b")]],
    );
  });

  it("numbers the version from the whole history, not its first page of 10", async () => {
    const history = Array.from({ length: 14 }, (_, i) => update(i + 1, "succeeded", prodAt(A, { id: `prod-x${i}`, version: `2026.11.${13 - i}` })));
    history.push(update(30, "succeeded", prodAt(A, { id: "prod-old", version: "2026.11.40" })));
    const { prod, source } = stacks({ prodHistory: history });
    const result = await promote({ ...base, prod, source, validations: async () => [validation(digest("b"), 1)] });
    assert.equal(result.release?.version, "2026.11.41");
  });

  it("works from a fresh checkout every time: two promotions in a row, each in its own checkout, both land", async () => {
    const first = stacks();
    const one = await promote({ ...base, prod: first.prod, source: first.source, validations: async () => [validation(digest("b"), 1)] });
    assert.equal(one.ok, true, one.error);
    // The next job: a fresh checkout (the committed stack file), the same backend (history and outputs).
    const second = stacks({ prodHistory: first.prod.updates, prodOutputs: { imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } } }, sourceOutputs: { imageRef: C, imageDigest: digest("c") } });
    const two = await promote({ ...base, prod: second.prod, source: second.source, validations: async () => [validation(digest("c"), 1)] });
    assert.equal(two.ok, true, two.error);
    assert.equal(section(second.prod.config, "image").digest, C);
    assert.equal(two.release?.version, "2026.11.1");
  });

  it("takes a hotfix out when it promotes", async () => {
    const { prod, source } = stacks({ prodConfig: withSections(checkoutConfig("prod"), { image: { hotfix: { tag: "sha-0123456789ab", reason: "urgent" } } }) });
    const result = await promote({ ...base, prod, source, validations: async () => [validation(digest("b"), 1)] });
    assert.equal(result.ok, true, result.error);
    assert.equal(section(prod.config, "image").hotfix, undefined);
  });

  it("--force promotes anyway and records why, past which check, in release.note (plain prose for the audit log)", async () => {
    const { prod, source } = stacks();
    const result = await promote({ ...base, prod, source, validations: async () => [], force: true, reason: "customer data loss fix, validated by hand on forest1" });
    assert.equal(result.ok, true);
    const note = String(section(prod.config, "release").note);
    assert.match(note, /^Forced by roger past the validation check \(no validation of sha256:bbbbbbbbbbbb on testprod in its audit log\): customer data loss fix, validated by hand on forest1$/);
    // The note is what the schema accepts as release.note (f.prose), so the host can log it.
    const raw = rawOf(prod.config);
    parseStackConfig("prod", raw.values, { secretKeys: raw.secretKeys });
    assert.match(result.notes.join("\n"), /forced past the validation check/);
  });

  it("--force needs a reason that fits the note: plain text, short enough", async () => {
    for (const [reason, why] of [
      [undefined, /--force needs --reason/],
      ["it's fine", /plain text/],
      ["$(reboot)", /plain text/],
      ["x".repeat(150), /too long: at most \d+ characters/],
    ] as const) {
      const { prod, source } = stacks();
      await assert.rejects(promote({ ...base, prod, source, validations: async () => [], force: true, reason }), why);
      assert.deepEqual(writes(prod), []);
    }
  });

  it("refuses when testprod has no digest-pinned live image, or its outputs disagree", async () => {
    for (const outputs of [{}, { imageRef: "build:/workdir/wepppy#master", imageDigest: "" }, { imageRef: `${B.split("@")[0]}:sha-0123456789ab` }]) {
      const { prod, source } = stacks({ sourceOutputs: outputs });
      await assert.rejects(promote({ ...base, prod, source, validations: async () => [validation(digest("b"), 1)] }), /testprod/);
      assert.deepEqual(writes(prod), []);
    }
  });

  it("says when testprod's image is already live on prod, and changes nothing", async () => {
    const { prod, source } = stacks({ prodOutputs: { imageRef: B, bluegreen: { live: "green", images: { blue: A, green: B } } } });
    const result = await promote({ ...base, prod, source, validations: async () => [] });
    assert.equal(result.ok, true);
    assert.equal(result.changed, false);
    assert.deepEqual(writes(prod), []);
  });

  it("reads validations from audit log lines, skipping torn ones, and judges the window against now", () => {
    const text = [
      JSON.stringify({ time: "2026-11-25T08:00:00Z", action: "validate", result: "ok", digest: digest("b"), detail: "ok" }),
      '{"time":"2026-11-25T09:00:00Z","action":"valid',
      JSON.stringify({ time: "2026-11-25T09:30:00Z", action: "validate", result: "failed", digest: digest("b"), detail: "smoke" }),
      "",
    ].join("\n");
    const entries = parseAuditLines(text);
    assert.equal(entries.length, 2);
    const found = findValidation(entries, digest("b"), NOW, 72);
    assert.equal(found.passing?.time, "2026-11-25T08:00:00Z");
    assert.equal(found.newest?.result, "failed");
    assert.equal(findValidation(entries, digest("b"), NOW, 1).passing, undefined);
    // Entries from the future beyond clock skew are not evidence.
    assert.equal(findValidation(entries, digest("b"), new Date("2026-11-25T07:00:00Z"), 72).passing, undefined);
  });
});
