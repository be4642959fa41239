import { strict as assert } from "node:assert";
import { interpolate, interpolations } from "../../render/composeInterpolation";

/* Compose's interpolation syntax, as the reader and the layout check read it. */

describe("compose interpolation", () => {
  it("finds every form, with defaults, messages and nesting", () => {
    const found = interpolations("a ${A} $B ${C:-x} ${D-y} ${E:?set E} ${F?f} ${G:+${H}} ${I:-${J:-k}} $$K $(cmd) $1 $");
    assert.deepEqual(
      found.map((i) => [i.variable, i.form, i.colon, i.argument ?? null, i.guards.map((g) => `${g.when}:${g.variable}`).join(",")]),
      [
        ["A", "plain", false, null, ""],
        ["B", "plain", false, null, ""],
        ["C", "default", true, "x", ""],
        ["D", "default", false, "y", ""],
        ["E", "required", true, "set E", ""],
        ["F", "required", false, "f", ""],
        ["G", "alternate", true, "${H}", ""],
        ["H", "plain", false, null, "set:G"],
        ["I", "default", true, "${J:-k}", ""],
        ["J", "default", true, "k", "unset:I"],
      ],
    );
  });

  it("refuses what compose refuses: an unterminated or nameless ${", () => {
    assert.throws(() => interpolations("${A"), /unterminated/);
    assert.throws(() => interpolations("${:-x}"), /expected a variable name/);
    assert.throws(() => interpolations("${A:x}"), /invalid interpolation \$\{A:x\}/);
  });

  it("resolves like compose, and gives up where a value is unknown or required", () => {
    const env = { A: "1", EMPTY: "" };
    assert.equal(interpolate("x-${A}-$A-$$A", env), "x-1-1-$A");
    assert.equal(interpolate("${B:-./caddy/Caddyfile}", env), "./caddy/Caddyfile");
    assert.equal(interpolate("${EMPTY:-d}|${EMPTY-d}", env), "d|");
    assert.equal(interpolate("${A:+on}|${B:+on}", env), "on|");
    assert.equal(interpolate("${B:-${A}}", env), "1");
    assert.equal(interpolate("${B}", env), undefined);
    assert.equal(interpolate("${B:?need B}", env), undefined);
    assert.equal(interpolate("$(cat f)", env), "$(cat f)");
  });
});
