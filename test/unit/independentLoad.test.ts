import { strict as assert } from "node:assert";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { parseWrkOutput, startIndependentLoad } from "../../bench/independentLoad";
import { requireTool } from "../support/tools";

describe("the independent load beside bench switch's clients (wrk)", () => {
  it("reads wrk's summary, with and without its error lines, and refuses what is not one", () => {
    const clean = "Running 1m test @ http://127.0.0.1:1/x\n  1 threads and 4 connections\n  812 requests in 1.00s, 96.62KB read\nRequests/sec:    811.23\n";
    assert.deepEqual(parseWrkOutput(clean), { requests: 812, non2xx3xx: 0, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 } });
    const bad = `${clean.replace("812 requests", "13176 requests")}  Socket errors: connect 2, read 39, write 1, timeout 3\n  Non-2xx or 3xx responses: 264\n`;
    assert.deepEqual(parseWrkOutput(bad), { requests: 13176, non2xx3xx: 264, socketErrors: { connect: 2, read: 39, write: 1, timeout: 3 } });
    assert.throws(() => parseWrkOutput("unable to connect to 127.0.0.1:1 Connection refused\n"), /not wrk's summary/);
  });

  it("counts as failed, as the server saw them, the 5xx it answered and the connections it dropped", async function () {
    requireTool(this, "wrk", ["sh", "-c", "command -v wrk"]); // wrk --version exits 1
    let served = 0;
    let fiveXx = 0;
    let dropped = 0;
    const server = http.createServer((req, res) => {
      served++;
      if (served % 40 === 0) {
        fiveXx++;
        res.statusCode = 503;
        res.end("down");
      } else if (served % 301 === 0) {
        dropped++;
        req.socket.destroy();
      } else res.end("OK");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const connections = 2;
      const load = startIndependentLoad({ port: (server.address() as AddressInfo).port, path: "/weppcloud/version", connections, headers: { "X-Forwarded-Proto": "https" } });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const r = await load.stop();
      assert.ok(fiveXx > 0 && dropped > 0, `the server answered ${served}, ${fiveXx} 5xx, dropped ${dropped}`);
      // At most one answer per connection was in flight when wrk was interrupted.
      assert.ok(Math.abs(r.non2xx3xx - fiveXx) <= connections, `wrk counted ${r.non2xx3xx} non-2xx, the server sent ${fiveXx}`);
      assert.ok(Math.abs(r.socketErrors.read - dropped) <= connections, `wrk counted ${r.socketErrors.read} read errors, the server dropped ${dropped}`);
      assert.equal(r.failed, r.non2xx3xx + r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout);
      assert.ok(Math.abs(r.requests + r.socketErrors.read - served) <= 2 * connections, `wrk: ${r.requests} requests, the server: ${served}`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
