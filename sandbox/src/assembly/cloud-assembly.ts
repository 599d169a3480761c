import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A CloudFormation template as the sandbox reads it. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, unknown>;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
  readonly Metadata?: Record<string, any>;
}

/** One stack of a cloud assembly, with the folders of its file assets. */
export interface AssemblyStack {
  /** Artifact id in the manifest, for example `devSmartHomedevEF9E84F7`. */
  readonly artifactId: string;
  /** CloudFormation stack name, for example `SmartHome-dev`. */
  readonly stackName: string;
  /** Display name of the nested assembly (the CDK stage), when the stack is inside one. */
  readonly stage?: string;
  readonly templateFile: string;
  readonly template: CfnTemplate;
  /** Absolute path of each file asset, keyed by the S3 object key the template references. */
  readonly assetPaths: ReadonlyMap<string, string>;
}

interface ManifestArtifact {
  readonly type: string;
  readonly properties?: Record<string, any>;
  readonly displayName?: string;
}

/** Reads every CloudFormation stack of a cloud assembly folder (`cdk.out`), including stages. */
export function readAssemblyStacks(assemblyDirectory: string, stage?: string): AssemblyStack[] {
  const directory = resolve(assemblyDirectory);
  const manifestFile = join(directory, 'manifest.json');
  if (!existsSync(manifestFile)) {
    throw new Error(`${directory} is not a cloud assembly: manifest.json is missing. Run 'cdk synth' (or 'npm run synth:example') first, or pass the folder that contains manifest.json.`);
  }
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { artifacts?: Record<string, ManifestArtifact> };
  const stacks: AssemblyStack[] = [];
  for (const [artifactId, artifact] of Object.entries(manifest.artifacts ?? {})) {
    if (artifact.type === 'cdk:cloud-assembly') {
      const nestedStage = String(artifact.properties?.displayName ?? artifactId);
      stacks.push(...readAssemblyStacks(join(directory, String(artifact.properties?.directoryName)), nestedStage));
    } else if (artifact.type === 'aws:cloudformation:stack') {
      stacks.push(readStack(directory, artifactId, artifact, manifest.artifacts ?? {}, stage));
    }
  }
  return stacks;
}

function readStack(
  directory: string,
  artifactId: string,
  artifact: ManifestArtifact,
  artifacts: Record<string, ManifestArtifact>,
  stage: string | undefined,
): AssemblyStack {
  const templateFile = join(directory, String(artifact.properties?.templateFile));
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate;
  const assetPaths = new Map<string, string>();
  for (const dependency of (artifact.properties?.additionalDependencies ?? []) as string[]) {
    const assetManifest = artifacts[dependency];
    if (assetManifest?.type !== 'cdk:asset-manifest') continue;
    const assetFile = join(directory, String(assetManifest.properties?.file));
    const assets = JSON.parse(readFileSync(assetFile, 'utf8')) as { files?: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }> };
    for (const file of Object.values(assets.files ?? {})) {
      for (const destination of Object.values(file.destinations)) {
        assetPaths.set(destination.objectKey, resolve(dirname(assetFile), file.source.path));
      }
    }
  }
  return {
    artifactId,
    stackName: String(artifact.properties?.stackName ?? artifactId),
    stage,
    templateFile,
    template,
    assetPaths,
  };
}

/**
 * Selects the stack of a SmartHomePlatform (the one with a fleet provisioning template) by
 * stage or stack name. Throws with the candidates when the choice is ambiguous or empty.
 */
export function selectPlatformStack(stacks: readonly AssemblyStack[], selector: { stage?: string; stack?: string } = {}): AssemblyStack {
  const platforms = stacks.filter((stack) => Object.values(stack.template.Resources).some((resource) => resource.Type === 'AWS::IoT::ProvisioningTemplate'));
  const describe = (list: readonly AssemblyStack[]) => list.map((stack) => `${stack.stackName}${stack.stage ? ` (stage ${stack.stage})` : ''}`).join(', ') || 'none';
  let candidates = platforms;
  if (selector.stack !== undefined) {
    candidates = candidates.filter((stack) => stack.stackName === selector.stack || stack.artifactId === selector.stack);
  }
  if (selector.stage !== undefined) {
    candidates = candidates.filter((stack) => stack.stage === selector.stage);
  }
  if (candidates.length === 1) {
    return candidates[0];
  }
  if (candidates.length === 0) {
    throw new Error(`No SmartHomePlatform stack matches ${JSON.stringify(selector)}. Platform stacks in the assembly: ${describe(platforms)}.`);
  }
  throw new Error(`Several SmartHomePlatform stacks match (${describe(candidates)}). Choose one with --stage or --stack.`);
}
