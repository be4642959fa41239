import { strict as assert } from "node:assert";
import { readEnvText } from "../../render/envFile";

/* A project's .env as compose reads it, and what cannot be carried over exactly (by key, never by value). */

describe("reading a .env", () => {
  it("reads the forms compose reads, and reports the ones it would interpolate or that span lines", () => {
    const text = [
      "# comment",
      "",
      "UID=1000",
      "export GID=993",
      "PLAIN = spaced value   # a comment",
      "HASH=a#b",
      "SINGLE='lit $ral # kept'",
      'DOUBLE="line\\nnext \\"q\\""',
      "EMPTY=",
      "REF=${OTHER}",
      'DREF="pre$OTHER"',
      "OPEN='never closed",
      "not a line",
    ].join("\n");
    const { values, problems } = readEnvText(text);
    assert.deepEqual(values, { UID: "1000", GID: "993", PLAIN: "spaced value", HASH: "a#b", SINGLE: "lit $ral # kept", DOUBLE: 'line\nnext "q"', EMPTY: "" });
    assert.deepEqual(
      problems.map((p) => [p.key, p.line]),
      [["REF", 10], ["DREF", 11], ["OPEN", 12], ["not", 13]],
    );
    assert.ok(!JSON.stringify(problems).includes("never closed"), "a value is in the problems");
  });
});
