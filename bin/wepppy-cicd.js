#!/usr/bin/env node
"use strict";
// The CLI is TypeScript; tsx compiles it on load so a clone works without a build step.
require("tsx/cjs");
const { main } = require("../cli/main");

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`wepppy-cicd: ${err && err.message ? err.message : err}`);
    process.exitCode = 1;
  },
);
