#!/usr/bin/env node
/**
 * Serves the dashboard on 127.0.0.1 for local use, with config.json built from --config FILE.
 * Only the keys that config.json may contain are served, so the ready line of
 * 'smart-home-sandbox up --json', which also lists the users' passwords, can be the config file.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveConfig } from './src/config.js';

const HELP = `Usage: node serve.js --config FILE [--port PORT] [--root DIR]

Serves the dashboard at http://127.0.0.1:PORT/ and prints that URL on stdout.

Options:
  --config FILE  JSON file with graphqlUrl, userPoolClientId and either cognitoUrl or region
                 (optional: realtimeUrl, userPoolId, authFlow), such as the ready line of
                 'smart-home-sandbox up --json'
  --port PORT    TCP port; 0 picks a free port (default: 8080)
  --root DIR     folder to serve (default: src next to this script; use dist after npm run build)`;

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

function main() {
  const { values } = parseArgs({ options: { config: { type: 'string' }, port: { type: 'string' }, root: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.config) {
    throw new Error(`--config is missing.\n\n${HELP}`);
  }
  const port = Number(values.port ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Invalid --port ${values.port}: expected a TCP port from 0 to 65535.`);
  }
  const config = resolveConfig(JSON.parse(readFileSync(values.config, 'utf8')));
  const configBody = JSON.stringify(config);
  const root = resolve(values.root ?? join(dirname(fileURLToPath(import.meta.url)), 'src'));

  const server = createServer((request, response) => {
    response.setHeader('x-content-type-options', 'nosniff');
    response.setHeader('referrer-policy', 'no-referrer');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      response.writeHead(400).end();
      return;
    }
    if (pathname === '/config.json') {
      response.writeHead(200, { 'content-type': MIME_TYPES['.json'], 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : configBody);
      return;
    }
    const file = resolve(root, `.${pathname.endsWith('/') ? `${pathname}index.html` : pathname}`);
    if (file !== root && !file.startsWith(root + sep)) {
      response.writeHead(404).end();
      return;
    }
    let stats;
    try {
      stats = statSync(file);
    } catch {
      stats = undefined;
    }
    if (!stats?.isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`${pathname} not found\n`);
      return;
    }
    response.writeHead(200, { 'content-type': MIME_TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': stats.size, 'cache-control': 'no-cache' });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    createReadStream(file).on('error', (error) => {
      console.error(`serve: reading ${file} failed: ${error.message}`);
      response.destroy();
    }).pipe(response);
  });

  server.listen(port, '127.0.0.1', () => {
    console.log(`Serving the dashboard at http://127.0.0.1:${server.address().port}/ (API ${config.graphqlUrl})`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

try {
  main();
} catch (error) {
  console.error(`serve failed: ${error.message}`);
  process.exitCode = 1;
}
