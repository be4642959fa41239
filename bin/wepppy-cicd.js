#!/usr/bin/env node
"use strict";
// The CLI is TypeScript; tsx compiles it on load so a clone works without a build step.
require("tsx/cjs");
const { main } = require("../cli/main");

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The stand-in engine's failed updates (a bench's bad releases) leave resource promises that
    // never settle, as a failed `pulumi up` does; the SDK's leak check at exit would turn this
    // run's own verdict into 1. Registered after it, this keeps the verdict.
    process.on("exit", () => {
      process.exitCode = code;
    });
  },
  (err) => {
    console.error(`wepppy-cicd: ${err && err.message ? err.message : err}`);
    process.exitCode = 1;
  },
);
