import { strict as assert } from "node:assert";
import { cliDocker, LABELS } from "../../host/agent/docker";
import { engineDocker } from "../../host/agent/dockerEngine";
import { readState } from "../../rig";
import { docker } from "../../rig/dockerd";
import { ensureRig, randomName, waitFor } from "./helpers";

/*
 * The agent's Engine API reads against a real dockerd (the rig's own engine): for the same
 * containers and images they give what the docker CLI gives, one-off containers left out.
 */

describe("agent: the Engine API reads the docker CLI's answers", function () {
  this.timeout(120_000);
  const project = randomName("engine-test");
  const names = [`${project}-web-1`, `${project}-worker-1`, `${project}-run-1`];
  const cli = cliDocker();
  const api = engineDocker("/var/run/docker.sock", cli);
  let image = "";

  before(async () => {
    await ensureRig();
    image = readState()!.standins.weppcloud["rig-a"];
    const start = async (name: string, service: string, oneoff: string, extra: string[] = []) => {
      const r = await docker(["run", "-d", "--name", name, "--label", `${LABELS.project}=${project}`, "--label", `${LABELS.service}=${service}`, "--label", `${LABELS.oneoff}=${oneoff}`, ...extra, "--entrypoint", "sleep", image, "300"]);
      assert.equal(r.code, 0, r.stderr);
    };
    await start(names[0], "web", "False", ["--health-cmd", "true", "--health-interval", "1s"]);
    await start(names[1], "worker", "False");
    await start(names[2], "web", "True");
    await docker(["stop", "-t", "0", names[1]]);
    // Compared once docker's health check has settled (starting -> healthy), not while it moves.
    await waitFor("the web container's health check", async () => (await cli.inspect(names[0]))?.health === "healthy", 30_000);
  });

  after(async () => {
    await docker(["rm", "-f", ...names]);
  });

  it("lists a project's containers, running or not, without its one-off containers, each inspected as the CLI inspects it", async () => {
    const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => (a.name < b.name ? -1 : 1));
    const [fromApi, fromCli] = [byName(await api.containers(project)), byName(await cli.containers(project))];
    assert.deepEqual(fromApi.map((c) => c.name), [names[0], names[1]]);
    assert.deepEqual(fromApi, fromCli);
    assert.deepEqual([fromApi[0].running, fromApi[1].running, fromApi[1].status], [true, false, "exited"]);
  });

  it("lists only the services asked for (a warm switch inspects only the colours), as the CLI does", async () => {
    const names_ = (xs: Array<{ name: string }>) => xs.map((c) => c.name).sort();
    assert.deepEqual(names_(await api.containers(project, ["worker"])), [names[1]]);
    assert.deepEqual(names_(await cli.containers(project, ["worker"])), [names[1]]);
    assert.deepEqual(names_(await api.containers(project, ["web", "worker"])), [names[0], names[1]]);
    assert.deepEqual(names_(await cli.containers(project, ["web", "worker"])), [names[0], names[1]]);
    assert.deepEqual(await api.containers(project, ["nothing"]), []);
  });

  it("inspects one container by name as the CLI does, and a missing one as null", async () => {
    assert.deepEqual(await api.inspect(names[0]), await cli.inspect(names[0]));
    assert.equal(await api.inspect(`${project}-missing`), null);
    assert.equal(await cli.inspect(`${project}-missing`), null);
  });

  it("knows which images the engine has, a registry reference with a port and a tag included", async () => {
    const absent = image.includes("@") ? `${image.split("@")[0]}@sha256:${"0".repeat(64)}` : `${image}-absent`;
    assert.equal(await api.hasImage(image), true);
    assert.equal(await cli.hasImage(image), true);
    assert.equal(await api.hasImage(absent), false);
    assert.equal(await cli.hasImage(absent), false);
    assert.equal(await api.hasImage("Not A Reference"), false);
  });
});
