/*
 * The Pulumi SDK stamps every promise it makes with `new Error().stack`
 * (@pulumi/pulumi/runtime/debuggable.js), read only for the message it prints when promises
 * are left pending at exit. Under tsx, source maps are on, and formatting each of those
 * stacks through them is about half the CPU of evaluating a stack under the mock engine.
 * Here the stack is still captured for every promise, but formatted only if that message
 * reads it. Nothing else reads it; what the SDK does with the promise is unchanged.
 */

// eslint-disable-next-line @typescript-eslint/no-var-requires
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
  debuggablePromise: <T>(p: Promise<T>, ctx: unknown) => Promise<T>;
  __lazyStacks?: boolean;
};

if (!debuggable.__lazyStacks) {
  const original = debuggable.debuggablePromise;
  debuggable.debuggablePromise = function debuggablePromise<T>(p: Promise<T>, ctx: unknown): Promise<T> {
    // The stack as the SDK would take it, its formatting left until it is read.
    const captured = new Error();
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let out: Promise<T>;
    try {
      out = original(p, ctx);
    } finally {
      Error.stackTraceLimit = limit;
    }
    // promiseDebugString reads it as `${p._debugStackTrace}`.
    (p as unknown as { _debugStackTrace: unknown })._debugStackTrace = { toString: () => captured.stack };
    return out;
  };
  debuggable.__lazyStacks = true;
}

export {};
