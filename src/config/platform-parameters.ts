import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { requireMatch } from '../private/validation';

const NAME_PART_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The platform's shared configuration values. None of them is a secret.
 */
export interface PlatformParameterValues {
  /** AWS IoT data endpoint (ATS) that devices connect to. */
  readonly iotDataEndpoint: string;
  /** GraphQL endpoint URL of the platform API. */
  readonly graphqlApiUrl: string;
  readonly userPoolId: string;
  readonly userPoolClientId: string;
  readonly identityPoolId: string;
  readonly firmwareBucketName: string;
  readonly uiConfigBucketName: string;
  readonly archiveBucketName: string;
  /** Name of the fleet provisioning template that devices name in their provisioning topic. */
  readonly provisioningTemplateName: string;
}

/**
 * Properties of a PlatformParameters.
 */
export interface PlatformParametersProps {
  /** First part of every parameter name, such as the application name. */
  readonly prefix: string;
  /** Deployment stage, such as `dev` or `prod`. */
  readonly stage: string;
  /** The values to store. */
  readonly values: PlatformParameterValues;
}

/** Parameter names below `/<prefix>/<stage>/`, by value. */
const PARAMETER_PATHS: Record<keyof PlatformParameterValues, string> = {
  iotDataEndpoint: 'iot/data-endpoint',
  provisioningTemplateName: 'iot/provisioning-template-name',
  graphqlApiUrl: 'api/graphql-url',
  userPoolId: 'auth/user-pool-id',
  userPoolClientId: 'auth/user-pool-client-id',
  identityPoolId: 'auth/identity-pool-id',
  firmwareBucketName: 'storage/firmware-bucket',
  uiConfigBucketName: 'storage/ui-config-bucket',
  archiveBucketName: 'storage/archive-bucket',
};

/**
 * SSM parameters under `/<prefix>/<stage>/` that hold the values apps, pipelines and other
 * stacks need to reach the platform: the IoT endpoint, API URL, Cognito ids, bucket names and
 * provisioning template name.
 *
 * @example
 * // In a consumer stack of the same account and region:
 * const values = PlatformParameters.fromStack(this, 'smart-home', 'dev');
 * new CfnOutput(this, 'Endpoint', { value: values.iotDataEndpoint });
 */
export class PlatformParameters extends Construct {
  /**
   * Reads the platform's values from its SSM parameters at deploy time. The parameters must
   * exist in the consumer stack's account and region.
   */
  public static fromStack(scope: Construct, prefix: string, stage: string): PlatformParameterValues {
    validateNameParts(prefix, stage);
    const read = (key: keyof PlatformParameterValues) =>
      ssm.StringParameter.valueForStringParameter(scope, parameterName(prefix, stage, key));
    return {
      iotDataEndpoint: read('iotDataEndpoint'),
      graphqlApiUrl: read('graphqlApiUrl'),
      userPoolId: read('userPoolId'),
      userPoolClientId: read('userPoolClientId'),
      identityPoolId: read('identityPoolId'),
      firmwareBucketName: read('firmwareBucketName'),
      uiConfigBucketName: read('uiConfigBucketName'),
      archiveBucketName: read('archiveBucketName'),
      provisioningTemplateName: read('provisioningTemplateName'),
    };
  }

  /**
   * Returns the full name of one parameter, such as `/smart-home/dev/iot/data-endpoint`.
   * @param key name of a field of PlatformParameterValues
   */
  public static parameterName(prefix: string, stage: string, key: string): string {
    validateNameParts(prefix, stage);
    if (!Object.prototype.hasOwnProperty.call(PARAMETER_PATHS, key)) {
      throw new Error(`Unknown parameter key '${key}'. Use one of: ${Object.keys(PARAMETER_PATHS).join(', ')}.`);
    }
    return parameterName(prefix, stage, key as keyof PlatformParameterValues);
  }

  /** The parameters by field name of PlatformParameterValues. */
  public readonly parameters: { [key: string]: ssm.StringParameter };

  constructor(scope: Construct, id: string, props: PlatformParametersProps) {
    super(scope, id);
    validateNameParts(props.prefix, props.stage);

    this.parameters = {};
    for (const key of Object.keys(PARAMETER_PATHS) as (keyof PlatformParameterValues)[]) {
      this.parameters[key] = new ssm.StringParameter(this, key, {
        parameterName: parameterName(props.prefix, props.stage, key),
        stringValue: props.values[key],
        description: `Smart-home platform ${props.stage}: ${PARAMETER_PATHS[key]}`,
        tier: ssm.ParameterTier.STANDARD,
      });
    }
  }
}

function parameterName(prefix: string, stage: string, key: keyof PlatformParameterValues): string {
  return `/${prefix}/${stage}/${PARAMETER_PATHS[key]}`;
}

function validateNameParts(prefix: string, stage: string): void {
  if (typeof prefix !== 'string' || typeof stage !== 'string') {
    throw new Error(`Invalid parameter prefix '${String(prefix)}' or stage '${String(stage)}': both are required strings, such as 'smart-home' and 'dev'.`);
  }
  if (/^(aws|ssm)/i.test(prefix)) {
    throw new Error(`Invalid parameter prefix '${prefix}': SSM reserves names that start with 'aws' or 'ssm'. Choose another prefix, such as 'smart-home'.`);
  }
  requireMatch('parameter prefix', prefix, NAME_PART_PATTERN, 'Use 1 to 64 letters, digits, _, . or -, without slashes.');
  requireMatch('stage', stage, NAME_PART_PATTERN, 'Use 1 to 64 letters, digits, _, . or -, such as dev or prod.');
}
