import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Packages that handlers bundle into their assets. Apps that install the library do not have
 * them, so no module that a construct imports may load them at synth time.
 */
const HANDLER_ONLY_PACKAGES = ['@aws-sdk/', '@aws-lambda-powertools/', '@smithy/', 'ajv'];

test('constructs synthesize without handler-only packages', () => {
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (${JSON.stringify(HANDLER_ONLY_PACKAGES)}.some((name) => request === name || request.startsWith(name))) {
        throw new Error('synth loaded the handler-only package ' + request);
      }
      return resolve.call(this, request, ...rest);
    };
    require('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(path.join(ROOT, 'examples/app/tsconfig.json'))} });
    const { App, Stack } = require('aws-cdk-lib');
    const { SmartHomePlatform } = require(${JSON.stringify(path.join(ROOT, 'src/index.ts'))});
    const app = new App();
    new SmartHomePlatform(new Stack(app, 'Consumer'), 'Home', { stage: 'test' });
    app.synth();
    console.log('synthesized');
  `;

  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CDK_VALIDATION: 'false' } });

  expect(result.stderr.split('\n').filter((line) => line.includes('handler-only package'))).toEqual([]);
  expect(result.stdout.trim()).toBe('synthesized');
});
