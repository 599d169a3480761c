import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LocalFunctionDefinition } from './local-lambda-runtime';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any>; Metadata?: Record<string, any> }> };

/** Lambda's defaults for a function that sets no Timeout or MemorySize. */
const DEFAULT_TIMEOUT_SECONDS = 3;
const DEFAULT_MEMORY_MB = 128;

/**
 * Reads every AWS::Lambda::Function of a synthesized template as a local function definition:
 * Handler, Timeout, MemorySize, Runtime, Environment.Variables (each value passed through
 * `resolve`) and the folder of its bundled asset. The folder comes from the function's
 * `aws:asset:path` metadata, or else from the asset manifest (`*.assets.json`) entry whose
 * object key is the function's Code.S3Key. The function name is the resolved FunctionName, or
 * the logical id when the template sets none.
 *
 * Throws, naming the logical id, for a function with inline code, a container image, a runtime
 * other than Node.js, or an asset folder that cannot be found.
 */
export function functionDefinitionsFromTemplate(
  template: Template,
  assemblyDirectory: string,
  resolve: (value: unknown) => string,
): LocalFunctionDefinition[] {
  const definitions: LocalFunctionDefinition[] = [];
  let assetSources: Map<string, string> | undefined;

  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') {
      continue;
    }
    const properties = resource.Properties ?? {};
    const code = properties.Code ?? {};
    if (code.ZipFile !== undefined) {
      throw new Error(`Function ${logicalId} has inline code (Code.ZipFile), but the local runtime runs only bundled assets. Give it lambda.Code.fromAsset or a NodejsFunction.`);
    }
    if (properties.PackageType === 'Image' || code.ImageUri !== undefined) {
      throw new Error(`Function ${logicalId} is a container image, but the local runtime runs only Node.js zip assets.`);
    }
    const runtime = typeof properties.Runtime === 'string' ? properties.Runtime : undefined;
    if (!runtime?.startsWith('nodejs')) {
      throw new Error(`Function ${logicalId} has runtime ${runtime ?? '(none)'}, but the local runtime runs only nodejs runtimes.`);
    }
    if (typeof properties.Handler !== 'string' || properties.Handler.length === 0) {
      throw new Error(`Function ${logicalId} has no Handler. Set one such as index.handler.`);
    }

    let codeDirectory: string;
    const assetPath = resource.Metadata?.['aws:asset:path'];
    if (typeof assetPath === 'string') {
      codeDirectory = path.resolve(assemblyDirectory, assetPath);
    } else {
      assetSources ??= readAssetSources(assemblyDirectory);
      const source = typeof code.S3Key === 'string' ? assetSources.get(code.S3Key) : undefined;
      if (!source) {
        throw new Error(`Function ${logicalId} has no aws:asset:path metadata and its Code.S3Key ${JSON.stringify(code.S3Key)} is in no asset manifest of ${assemblyDirectory}. Synthesize the app again with \`npm run synth:example\`.`);
      }
      codeDirectory = source;
    }
    if (!existsSync(codeDirectory)) {
      throw new Error(`Asset folder ${codeDirectory} of function ${logicalId} does not exist. Run \`npx projen bundle && npm run synth:example\`.`);
    }

    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries<unknown>(properties.Environment?.Variables ?? {})) {
      environment[name] = resolve(value);
    }
    definitions.push({
      logicalId,
      functionName: properties.FunctionName === undefined ? logicalId : resolve(properties.FunctionName),
      codeDirectory,
      handler: properties.Handler,
      environment,
      timeoutSeconds: Number(properties.Timeout ?? DEFAULT_TIMEOUT_SECONDS),
      memoryMb: Number(properties.MemorySize ?? DEFAULT_MEMORY_MB),
      runtime,
    });
  }
  return definitions;
}

/** Maps each file asset's S3 object key to its source folder, from the assembly's asset manifests. */
function readAssetSources(assemblyDirectory: string): Map<string, string> {
  const sources = new Map<string, string>();
  const manifests = existsSync(assemblyDirectory) ? readdirSync(assemblyDirectory).filter((name) => name.endsWith('.assets.json')) : [];
  for (const name of manifests) {
    const manifest = JSON.parse(readFileSync(path.join(assemblyDirectory, name), 'utf8'));
    for (const asset of Object.values<any>(manifest.files ?? {})) {
      const sourcePath = asset.source?.path;
      if (typeof sourcePath !== 'string') {
        continue;
      }
      for (const destination of Object.values<any>(asset.destinations ?? {})) {
        if (typeof destination.objectKey === 'string') {
          sources.set(destination.objectKey, path.resolve(assemblyDirectory, sourcePath));
        }
      }
    }
  }
  return sources;
}
