#!/usr/bin/env node
// Synthesizes the example app into examples/app/cdk.out (or CDK_OUTDIR) with no AWS credentials
// and no network.
// The app imports the library from src/, compiled on the fly by ts-node.
const path = require('node:path');

process.env.AWS_EC2_METADATA_DISABLED = 'true';
// CDK_OUTDIR, when set (as `smart-home-sandbox up --app` does), chooses another output folder.
process.env.CDK_OUTDIR = process.env.CDK_OUTDIR || path.join(__dirname, 'cdk.out');
require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, 'tsconfig.json') });
require('./src/main.ts');
