import * as http from "node:http";
import { ContainerInfo, Docker, LABELS, parseInspect } from "./docker";

/*
 * The reads the orchestration makes most (a project's containers, one container, whether an
 * image is here) through the Engine API on the docker socket, not the CLI: on a loaded host
 * each `docker` process costs 50-150 ms, and a warm switch reads the colours twice before it
 * moves traffic. The answers are the same JSON the CLI prints (`docker inspect` is this
 * endpoint), so they go through the same parser. Everything else (exec with stdin files, pull,
 * run) stays with the CLI adapter given.
 */

interface EngineAnswer {
  status: number;
  body: string;
}

function engineGet(socketPath: string, path: string, timeoutMs = 30_000): Promise<EngineAnswer> {
  return new Promise((resolve, reject) => {
    // Unversioned paths: the engine answers with its own API version, as the CLI negotiates.
    const req = http.request({ socketPath, path, method: "GET", headers: { Host: "docker" }, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`the docker engine did not answer ${path} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

function engineError(what: string, a: EngineAnswer): Error {
  let message = a.body.trim();
  try {
    message = String((JSON.parse(a.body) as { message?: unknown }).message ?? message);
  } catch {
    // not JSON: the text as it came
  }
  return new Error(`docker engine: ${what} answered ${a.status}: ${message.slice(0, 300)}`);
}

export function engineDocker(socketPath: string, cli: Docker): Docker {
  const inspectOne = async (nameOrId: string): Promise<ContainerInfo | null> => {
    const a = await engineGet(socketPath, `/containers/${encodeURI(nameOrId)}/json`);
    if (a.status === 404) return null;
    if (a.status !== 200) throw engineError(`inspect ${nameOrId}`, a);
    return parseInspect(`[${a.body}]`)[0] ?? null;
  };
  return {
    ...cli,
    async containers(project, services) {
      const filters = JSON.stringify({ label: [`${LABELS.project}=${project}`, `${LABELS.oneoff}=False`] });
      const a = await engineGet(socketPath, `/containers/json?all=1&filters=${encodeURIComponent(filters)}`);
      if (a.status !== 200) throw engineError("container list", a);
      // The list carries each container's labels: only the services asked for are inspected.
      const listed = JSON.parse(a.body) as Array<{ Id?: unknown; Labels?: Record<string, string> | null }>;
      const ids = listed
        .filter((c) => !services || services.includes(c.Labels?.[LABELS.service] ?? ""))
        .map((c) => String(c.Id ?? ""))
        .filter(Boolean);
      // A container removed between the list and its inspect is simply gone.
      return (await Promise.all(ids.map(inspectOne))).filter((c): c is ContainerInfo => c !== null);
    },
    inspect: inspectOne,
    async hasImage(ref) {
      const a = await engineGet(socketPath, `/images/${encodeURI(ref)}/json`);
      if (a.status === 200) return true;
      // 404: not here; 400: not a reference the engine could have (the CLI says "no" to both).
      if (a.status === 404 || a.status === 400) return false;
      throw engineError(`image ${ref}`, a);
    },
  };
}
