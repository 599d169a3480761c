import { App, RemovalPolicy, Stack, StackProps, Stage, StageProps, Tags } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PlatformMfa, SmartHomePlatform } from '../../../src';

/** Settings that differ between stages. */
export interface StageConfig {
  readonly stage: string;
  readonly thingNamePrefix: string;
  readonly removalPolicy: RemovalPolicy;
  readonly mfa: PlatformMfa;
  readonly logRetention: logs.RetentionDays;
}

export const STAGES: StageConfig[] = [
  {
    stage: 'dev',
    thingNamePrefix: 'dev-',
    removalPolicy: RemovalPolicy.DESTROY,
    mfa: PlatformMfa.OPTIONAL,
    logRetention: logs.RetentionDays.ONE_MONTH,
  },
  {
    stage: 'prod',
    thingNamePrefix: 'home-',
    removalPolicy: RemovalPolicy.RETAIN,
    mfa: PlatformMfa.REQUIRED,
    logRetention: logs.RetentionDays.ONE_YEAR,
  },
];

/** The platform stack of one stage. */
export class SmartHomeStack extends Stack {
  public readonly platform: SmartHomePlatform;

  constructor(scope: Construct, id: string, config: StageConfig, props?: StackProps) {
    super(scope, id, props);
    this.platform = new SmartHomePlatform(this, 'Platform', {
      stage: config.stage,
      provisioning: { thingNamePrefix: config.thingNamePrefix },
      auth: { mfa: config.mfa },
      removalPolicy: config.removalPolicy,
      logRetention: config.logRetention,
    });
  }
}

/** One deployable stage: the same definition for dev and prod. */
export class SmartHomeStage extends Stage {
  public readonly stack: SmartHomeStack;

  constructor(scope: Construct, config: StageConfig, props?: StageProps) {
    super(scope, config.stage, props);
    this.stack = new SmartHomeStack(this, `SmartHome-${config.stage}`, config, {
      stackName: `SmartHome-${config.stage}`,
      description: `Smart-home platform (${config.stage})`,
    });
    Tags.of(this).add('stage', config.stage);
  }
}

/** Builds the example app with every stage. */
export function buildApp(app: App): SmartHomeStage[] {
  return STAGES.map((config) => new SmartHomeStage(app, config));
}
