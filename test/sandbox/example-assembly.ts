import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../examples/app/src/stages';

let devAssembly: string | undefined;

/**
 * Synthesizes the example app into a temporary folder, once per test file, and returns the
 * folder of its dev stage: the template and the handler assets that `npx projen bundle` built.
 * The tests do not read examples/app/cdk.out, which the library build does not create.
 */
export function exampleDevAssembly(): string {
  if (!devAssembly) {
    const outdir = mkdtempSync(path.join(tmpdir(), 'example-assembly-'));
    const app = new App({ outdir });
    buildApp(app);
    app.synth();
    devAssembly = path.join(outdir, 'assembly-dev');
  }
  return devAssembly;
}
