import { LoadOptions, startLoad } from "./load";
import type { Ask } from "./loadProcess";

// The child side of loadProcess.ts: runs the clients and answers its parent's questions.
const send = (m: unknown) => process.send!(m);
// A bench that dies leaves no clients behind.
process.on("disconnect", () => process.exit());
try {
  const load = startLoad(JSON.parse(process.argv[2]) as LoadOptions);
  process.on("message", async (m: { id: number; ask: Ask }) => {
    const value = m.ask === "mark" ? load.mark() : m.ask === "lastBuild" ? load.lastBuild() : m.ask === "totals" ? load.totals() : await load.stop();
    send({ id: m.id, value });
  });
  send({ ready: true });
} catch (err) {
  send({ error: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
}
