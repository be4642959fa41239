import * as http from "node:http";
import * as https from "node:https";

/*
 * The smoke test's HTTP client: node's own (Debian's node 18 has fetch only as an
 * experimental API), redirects not followed, and every failure an answer with status 0,
 * so that a caller reads one shape.
 */

export interface HttpResponse {
  status: number;
  body: string;
  /** Response headers, names in lower case (absent when nothing answered). */
  headers?: Record<string, string>;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
  timeoutMs?: number;
}

export interface Http {
  request(r: HttpRequest): Promise<HttpResponse>;
}

const MAX_BODY = 1024 * 1024;

export const nodeHttp: Http = {
  request(r) {
    return new Promise((resolve) => {
      const url = new URL(r.url);
      const body = r.json === undefined ? undefined : Buffer.from(JSON.stringify(r.json), "utf8");
      const headers: Record<string, string> = { ...(r.headers ?? {}) };
      if (body) {
        headers["Content-Type"] = "application/json";
        headers["Content-Length"] = String(body.length);
      }
      const lib = url.protocol === "https:" ? https : http;
      const req = lib.request(url, { method: r.method, headers, timeout: r.timeoutMs ?? 30_000 }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          if (text.length < MAX_BODY) text += d;
        });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers }));
        res.on("error", (err) => resolve({ status: 0, body: err.message }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${r.timeoutMs ?? 30_000} ms`)));
      req.on("error", (err) => resolve({ status: 0, body: err.message }));
      req.end(body);
    });
  },
};
