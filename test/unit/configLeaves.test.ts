import { strict as assert } from "node:assert";
import { ProjectStackFile } from "../../harness/engine/projectStack";
import { configLeaves } from "../../harness/rehearsal/rigStack";

/*
 * What a rig job or a rehearsal's --set writes to a stack file, as `pulumi config set --path`
 * and `config rm --path` would: a list given whole would be stored as its JSON text (a string
 * the schema rightly refuses), so it goes in index by index, after the old list is removed.
 */
describe("config leaves (--set and WEPPPY_RIG_SET on a stack file)", () => {
  const apply = (text: string, key: string, value: unknown) => {
    const file = new ProjectStackFile(undefined, { text });
    for (const leaf of configLeaves(key, value)) {
      if (leaf.value === undefined) file.remove(leaf.key, true);
      else file.set(leaf.key, { value: leaf.value }, true);
    }
    return file.stored();
  };

  it("sets a list of objects index by index, replacing the list it had, and types numbers and booleans as the CLI does", () => {
    const before = "config:\n  wepppy-cicd:runner:\n    count: 2\n    access:\n      from: [1.1.1.1, 2.2.2.2, 3.3.3.3]\n";
    const stored = apply(before, "wepppy-cicd:runner", { access: { from: ["10.0.0.1"] }, deployTargets: [{ host: "a", port: 22 }, { host: "b", port: 2222 }], ephemeral: true });
    assert.deepEqual(stored["wepppy-cicd:runner"], {
      count: 2,
      access: { from: ["10.0.0.1"] },
      deployTargets: [{ host: "a", port: 22 }, { host: "b", port: 2222 }],
      ephemeral: true,
    });
  });

  it("leaves a string a string, even one that looks like JSON", () => {
    assert.deepEqual(configLeaves("ns:a.b", "[1]"), [{ key: "ns:a.b", value: "[1]" }]);
    assert.deepEqual(configLeaves("ns:a", [[1]]), [{ key: "ns:a" }, { key: "ns:a[0]" }, { key: "ns:a[0][0]", value: "1" }]);
  });
});
