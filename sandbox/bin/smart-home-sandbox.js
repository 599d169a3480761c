#!/usr/bin/env node
// Runs the TypeScript sources directly, so a checkout needs no separate build of the sandbox.
const { join } = require('node:path');
require('ts-node').register({ transpileOnly: true, project: join(__dirname, '..', 'tsconfig.json') });
require('../src/cli.ts').runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`smart-home-sandbox: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
