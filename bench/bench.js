#!/usr/bin/env node
// Entry point of `npm run bench`: compiles bench/run.ts on the fly with ts-node.
const path = require('node:path');

require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, 'tsconfig.json') });
require('./run.ts');
