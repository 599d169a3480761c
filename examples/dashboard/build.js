#!/usr/bin/env node
/**
 * Copies the dashboard from src/ to dist/ and writes dist/config.json.
 *
 * The configuration comes from --config FILE, or from the environment variables that the
 * DashboardHosting construct sets on Amplify Hosting: SMART_HOME_GRAPHQL_URL, SMART_HOME_REGION,
 * SMART_HOME_USER_POOL_ID and SMART_HOME_USER_POOL_CLIENT_ID. The real-time URL and the Cognito
 * endpoint are derived from them.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveConfig } from './src/config.js';

const HELP = `Usage: node build.js [--config FILE] [--out DIR]

Copies the dashboard to DIR (default: dist) and writes DIR/config.json.

Options:
  --config FILE  JSON file with graphqlUrl, userPoolClientId and either cognitoUrl or region
                 (optional: realtimeUrl, userPoolId, authFlow). The ready line of 'smart-home-sandbox up --json'
                 works as it is. Without --config the SMART_HOME_* environment variables are used.
  --out DIR      output folder (default: dist)`;

const root = dirname(fileURLToPath(import.meta.url));

function main() {
  const { values } = parseArgs({ options: { config: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const config = resolveConfig(values.config ? readJson(values.config) : configFromEnvironment(process.env));
  const out = resolve(root, values.out ?? 'dist');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(join(root, 'src'), out, { recursive: true });
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  console.log(`Built the dashboard in ${out} for ${config.graphqlUrl}`);
}

function configFromEnvironment(env) {
  const missing = ['SMART_HOME_GRAPHQL_URL', 'SMART_HOME_REGION', 'SMART_HOME_USER_POOL_CLIENT_ID'].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new Error(`Missing configuration: set ${missing.join(', ')} (DashboardHosting sets them on Amplify Hosting), or pass --config FILE.`);
  }
  return {
    graphqlUrl: env.SMART_HOME_GRAPHQL_URL,
    region: env.SMART_HOME_REGION,
    userPoolId: env.SMART_HOME_USER_POOL_ID,
    userPoolClientId: env.SMART_HOME_USER_POOL_CLIENT_ID,
  };
}

function readJson(file) {
  if (!existsSync(file)) {
    throw new Error(`Configuration file ${file} not found.`);
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Configuration file ${file} is not valid JSON: ${error.message}`);
  }
}

try {
  main();
} catch (error) {
  console.error(`build failed: ${error.message}`);
  process.exitCode = 1;
}
