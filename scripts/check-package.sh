#!/usr/bin/env bash
# Installs the packed library into a scratch CDK app, as a user would, and synthesizes a
# SmartHomePlatform there. The app has neither esbuild nor Docker, so this fails if any handler
# would need bundling at synth time.
set -euo pipefail
cd "$(dirname "$0")/.."

tarball=$(ls dist/js/cdk-smart-home@*.jsii.tgz 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
  echo "check-package: no tarball in dist/js; run 'npx projen build' first" >&2
  exit 1
fi
# The app lives outside the repository, so Node.js cannot resolve packages from the
# repository's own node_modules and a missing runtime dependency fails here as it would for users.
app=$(mktemp -d /tmp/cdk-smart-home-consumer.XXXXXX)
trap 'rm -rf "$app"' EXIT
cp "$tarball" "$app/cdk-smart-home.tgz"
cdk_version=$(node -p "require('./package.json').devDependencies['aws-cdk-lib']")
constructs_version=$(node -p "require('./package.json').devDependencies['constructs']")

cat > "$app/package.json" <<JSON
{
  "name": "consumer-app",
  "private": true,
  "dependencies": {
    "aws-cdk-lib": "$cdk_version",
    "constructs": "$constructs_version",
    "cdk-smart-home": "file:./cdk-smart-home.tgz"
  }
}
JSON
cat > "$app/app.js" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const { App, Stack } = require('aws-cdk-lib');
const { SmartHomePlatform } = require('cdk-smart-home');

const app = new App({ outdir: path.join(__dirname, 'cdk.out'), context: { 'aws:cdk:enable-asset-metadata': true } });
const stack = new Stack(app, 'Consumer');
new SmartHomePlatform(stack, 'Home', { stage: 'test', provisioning: { allowedSerials: ['SH-ESP32-000123'] } });
const assembly = app.synth();

const template = assembly.getStackByName('Consumer').template;
const functions = Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');
if (functions.length === 0) {
  throw new Error('the platform synthesized no Lambda function');
}
const assets = new Set();
for (const [id, resource] of functions) {
  const asset = resource.Metadata && resource.Metadata['aws:asset:path'];
  if (!asset || !fs.existsSync(path.join(assembly.directory, asset, 'index.js'))) {
    throw new Error(`function ${id} has no prebuilt handler bundle (asset ${asset})`);
  }
  assets.add(asset);
}
console.log(`check-package: synthesized ${functions.length} functions from ${assets.size} prebuilt handler bundles`);
JS

echo "check-package: installing $tarball into $app"
(cd "$app" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
if [ -e "$app/node_modules/esbuild" ]; then
  echo "check-package: esbuild was installed into the consumer app; the package must not need it" >&2
  exit 1
fi
(cd "$app" && AWS_EC2_METADATA_DISABLED=true node app.js)
