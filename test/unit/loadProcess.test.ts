import { strict as assert } from "node:assert";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { startLoadProcess } from "../../bench/loadProcess";
import { minuteRequests, percentOf } from "../../bench/rigSwitch";

describe("bench switch's clients in their own process", () => {
  it("count, across the process boundary, what the server answered, by build and by failure", async () => {
    const seen = { ok: 0, fiveXx: 0 };
    const server = http.createServer((req, res) => {
      if ((seen.ok + seen.fiveXx + 1) % 25 === 0) {
        seen.fiveXx++;
        res.statusCode = 503;
        res.end("down");
        return;
      }
      seen.ok++;
      res.setHeader("X-Weppcloud-Build", "b1");
      res.end("OK");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const load = await startLoadProcess({ port: (server.address() as AddressInfo).port, clients: 2, paths: ["/weppcloud/version"] });
    try {
      assert.notEqual(load.pid, process.pid);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const first = await load.mark();
      const last = await load.stop();
      const all = await load.totals();
      assert.equal(await load.lastBuild().catch((e: Error) => e.message), "the load clients were stopped");
      // Its process ends with the clients: a bench leaves none behind.
      const alive = () => {
        try {
          process.kill(load.pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 40 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(alive(), false, `the clients' process ${load.pid} still runs after stop`);
      assert.ok(seen.fiveXx > 0, `the server answered ${seen.ok} 200 and ${seen.fiveXx} 503`);
      assert.equal(all.requests, first.requests + last.requests);
      // Every answer the server sent was counted once, by its build or as a 5xx (none was in flight at the stop).
      assert.equal(all.builds.b1, seen.ok);
      assert.equal(all.failedByKind.status5xx, seen.fiveXx);
      assert.equal(all.failed, seen.fiveXx);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("scale a bad release's requests to the minute around it", () => {
    assert.equal(minuteRequests(5000, 20_000), 15_000);
    assert.equal(minuteRequests(5000, 90_000), 5000);
    assert.equal(percentOf(341, 15_000), 2.27);
    assert.equal(percentOf(1, 0), 0);
  });
});
