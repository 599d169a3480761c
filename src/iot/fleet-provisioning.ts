import { CustomResource, Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { IotResourcesFunction } from './iot-resources-function';
import { PreProvisioningHookFunction } from './pre-provisioning-hook-function';
import { claimPolicyDocument, devicePolicyDocument } from './private/iot-policies';
import { CLAIM_CERTIFICATE_TYPE, DATA_ENDPOINT_TYPE } from './private/resource-types';
import { DEFAULT_SERIAL_PATTERN, MAX_THING_NAME_LENGTH, THING_NAME_PREFIX_PATTERN } from '../domain/identity';
import { acknowledgeRules, skipCheckovChecks } from '../private/acknowledge';
import { createHandler } from '../private/handler';
import { requireMatch } from '../private/validation';

const TEMPLATE_NAME_PATTERN = /^[0-9A-Za-z_-]{1,36}$/;
const THING_TYPE_NAME_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;
/** Lambda environment variables may total 4 KB; the rest of the hook's environment needs some. */
const MAX_ALLOWED_SERIALS_CHARACTERS = 3000;

/**
 * Properties of a FleetProvisioning.
 */
export interface FleetProvisioningProps {
  /**
   * Name of the provisioning template; it appears in the devices' provisioning topic.
   * @default - a name unique to this construct, at most 36 characters
   */
  readonly templateName?: string;

  /**
   * Prefix of every thing name. A device's thing name, MQTT client id and device id are this
   * prefix followed by its serial.
   * @default 'sh-'
   */
  readonly thingNamePrefix?: string;

  /**
   * Regular expression, anchored with `^` and `$`, that every serial must match. It narrows the
   * default character set and cannot widen it: the hook also requires 1 to 64 letters, digits,
   * `_` or `-`.
   * @default '^[A-Za-z0-9_-]{1,64}$'
   */
  readonly serialPattern?: string;

  /**
   * Serials that may provision. Suits small fleets; the list is stored in the hook's
   * environment. Without it the hook reads the allowlist table, where an operator can also
   * release a serial for re-provisioning.
   * @default - the serials in `serialAllowlistTable`
   */
  readonly allowedSerials?: string[];

  /**
   * Name of the thing type of provisioned devices.
   * @default - a name unique to this construct
   */
  readonly thingTypeName?: string;

  /**
   * Changing this value issues a new claim certificate and retires the previous one.
   * @default '1'
   */
  readonly claimCertificateRotation?: string;

  /**
   * Key that encrypts the claim certificate secret, the allowlist table, the logs and the
   * functions' environment.
   * @default - a new customer managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * How long the functions' logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Removal policy of the allowlist table and the claim certificate secret.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * AWS IoT fleet provisioning by claim. The claim certificate's private key exists only in
 * Secrets Manager, and the claim policy reaches only the provisioning topics. The provisioning
 * template names each thing after its serial and attaches a thing-scoped device policy, and a
 * pre-provisioning hook denies by default.
 *
 * @example
 * const provisioning = new FleetProvisioning(this, 'Provisioning', {
 *   thingNamePrefix: 'home-',
 *   allowedSerials: ['SH-ESP32-000123', 'SH-ESP32-000124'],
 * });
 */
export class FleetProvisioning extends Construct {
  /** Name of the provisioning template. */
  public readonly templateName: string;
  public readonly template: iot.CfnProvisioningTemplate;
  /** Prefix of every thing name. */
  public readonly thingNamePrefix: string;
  /** Pattern that serials must match. */
  public readonly serialPattern: string;
  /** Policy attached to every provisioned device's certificate. */
  public readonly devicePolicy: iot.CfnPolicy;
  /** Policy attached to the claim certificate. */
  public readonly claimPolicy: iot.CfnPolicy;
  /** Secret with the claim certificate's `certificateId`, `certificatePem` and `privateKey`. */
  public readonly claimCertificateSecret: secretsmanager.Secret;
  /** ARN of the claim certificate. */
  public readonly claimCertificateArn: string;
  /** Id of the claim certificate. */
  public readonly claimCertificateId: string;
  /** The pre-provisioning hook. */
  public readonly hookFunction: lambda.IFunction;
  /** Allowlist of serials (`serial` key, optional `releasedForReprovisioning` flag); absent when `allowedSerials` is set. */
  public readonly serialAllowlistTable?: dynamodb.Table;
  /** Thing group that every provisioned device joins; OTA rollouts target it. */
  public readonly fleetThingGroup: iot.CfnThingGroup;
  /** The account's AWS IoT data endpoint (ATS), looked up at deploy time. */
  public readonly dataEndpointAddress: string;
  /** The key that encrypts the secret, the table and the logs. */
  public readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: FleetProvisioningProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);

    this.templateName = props.templateName ?? Names.uniqueResourceName(this, { maxLength: 36, separator: '-' });
    this.thingNamePrefix = props.thingNamePrefix ?? 'sh-';
    this.serialPattern = props.serialPattern ?? DEFAULT_SERIAL_PATTERN;
    validateProps(this.templateName, this.thingNamePrefix, this.serialPattern, props.allowedSerials);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: 'Encrypts the fleet provisioning secret, allowlist and logs',
      enableKeyRotation: true,
      removalPolicy,
    });
    this.encryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`));

    // Device identity: thing type, fleet group and the thing-scoped device policy.
    const thingTypeName = props.thingTypeName ?? Names.uniqueResourceName(this, { maxLength: 128, separator: '-' });
    requireMatch('thingTypeName', thingTypeName, THING_TYPE_NAME_PATTERN, 'Use 1 to 128 letters, digits, :, _ or -.');
    const thingType = new iot.CfnThingType(this, 'ThingType', {
      thingTypeName,
      thingTypeProperties: {
        thingTypeDescription: 'ESP32 device provisioned by claim',
        searchableAttributes: ['serial', 'model', 'firmwareVersion'],
      },
    });
    this.fleetThingGroup = new iot.CfnThingGroup(this, 'FleetGroup', {
      thingGroupName: `${this.templateName}-fleet`,
      thingGroupProperties: { thingGroupDescription: 'Every device provisioned by this template' },
    });
    this.devicePolicy = new iot.CfnPolicy(this, 'DevicePolicy', { policyDocument: devicePolicyDocument(stack) });

    // Pre-provisioning hook, deny by default.
    if (!props.allowedSerials) {
      this.serialAllowlistTable = new dynamodb.Table(this, 'SerialAllowlist', {
        partitionKey: { name: 'serial', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: this.encryptionKey,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
        removalPolicy,
      });
    }
    const hook = createHandler(this, 'PreProvisioningHook', PreProvisioningHookFunction, {
      description: 'Pre-provisioning hook: allows a device to register only when its serial passes every check',
      timeout: Duration.seconds(4),
      memorySize: 256,
      encryptionKey: this.encryptionKey,
      logRetention: props.logRetention,
      invokedSynchronously: true,
      environment: {
        SERIAL_PATTERN: this.serialPattern,
        THING_NAME_PREFIX: this.thingNamePrefix,
        ...(props.allowedSerials ? { ALLOWED_SERIALS: props.allowedSerials.join(',') } : {}),
        ...(this.serialAllowlistTable ? { ALLOWLIST_TABLE_NAME: this.serialAllowlistTable.tableName } : {}),
      },
    });
    this.serialAllowlistTable?.grantReadData(hook);
    hook.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iot:DescribeThing'],
      resources: [stack.formatArn({ service: 'iot', resource: 'thing', resourceName: `${this.thingNamePrefix}*` })],
    }));
    acknowledgeRules(hook.role!, [{
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/${this.thingNamePrefix}*]`,
      reason: 'The hook checks whether a thing named after the requested serial exists; serials are not known at deploy time.',
    }]);
    this.hookFunction = hook;

    // Provisioning template and the role that AWS IoT assumes to apply it.
    const provisioningRole = this.createProvisioningRole(thingTypeName);
    this.template = new iot.CfnProvisioningTemplate(this, 'Template', {
      templateName: this.templateName,
      description: 'Registers an ESP32 device by claim: thing named after the serial, certificate activated, device policy attached',
      enabled: true,
      provisioningRoleArn: provisioningRole.roleArn,
      preProvisioningHook: { targetArn: hook.functionArn, payloadVersion: '2020-04-01' },
      templateBody: stack.toJsonString(this.templateBody(thingTypeName)),
    });
    this.template.node.addDependency(thingType, this.fleetThingGroup);
    hook.addPermission('InvokedByIot', {
      principal: new iam.ServicePrincipal('iot.amazonaws.com'),
      sourceArn: stack.formatArn({ service: 'iot', resource: 'provisioningtemplate', resourceName: this.templateName }),
      sourceAccount: stack.account,
    });

    // Claim certificate, created by a custom resource so its private key never enters the template.
    this.claimCertificateSecret = new secretsmanager.Secret(this, 'ClaimCertificateSecret', {
      description: 'Fleet provisioning claim certificate and private key, written by the claim certificate custom resource',
      encryptionKey: this.encryptionKey,
      removalPolicy,
    });
    acknowledgeRules(this.claimCertificateSecret, [{
      id: 'AwsSolutions-SMG4',
      reason: 'A claim certificate cannot be rotated by a Secrets Manager rotation function; changing claimCertificateRotation issues a new certificate and retires the old one.',
    }]);
    skipCheckovChecks(this.claimCertificateSecret, [{
      id: 'CKV2_AWS_57',
      reason: 'A claim certificate cannot be rotated by a Secrets Manager rotation function; changing claimCertificateRotation issues a new certificate and retires the old one.',
    }]);
    const resourcesFunction = this.createResourcesFunction(props.logRetention);
    this.claimCertificateSecret.grantWrite(resourcesFunction);
    const claimCertificate = new CustomResource(this, 'ClaimCertificate', {
      serviceToken: resourcesFunction.functionArn,
      resourceType: CLAIM_CERTIFICATE_TYPE,
      properties: { SecretArn: this.claimCertificateSecret.secretArn, Rotation: props.claimCertificateRotation ?? '1' },
    });
    this.claimCertificateArn = claimCertificate.getAttString('CertificateArn');
    this.claimCertificateId = claimCertificate.getAttString('CertificateId');

    this.claimPolicy = new iot.CfnPolicy(this, 'ClaimPolicy', {
      policyDocument: claimPolicyDocument(stack, this.templateName, this.thingNamePrefix),
    });
    new iot.CfnPolicyPrincipalAttachment(this, 'ClaimPolicyAttachment', {
      policyName: this.claimPolicy.ref,
      principal: this.claimCertificateArn,
    });

    const endpoint = new CustomResource(this, 'DataEndpoint', {
      serviceToken: resourcesFunction.functionArn,
      resourceType: DATA_ENDPOINT_TYPE,
    });
    this.dataEndpointAddress = endpoint.getAttString('EndpointAddress');
  }

  private templateBody(thingTypeName: string): object {
    return {
      Parameters: {
        'SerialNumber': { Type: 'String' },
        'Model': { Type: 'String', Default: 'unknown' },
        'FirmwareVersion': { Type: 'String', Default: '0.0.0' },
        'AWS::IoT::Certificate::Id': { Type: 'String' },
      },
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          OverrideSettings: { AttributePayload: 'REPLACE', ThingTypeName: 'REPLACE', ThingGroups: 'DO_NOTHING' },
          Properties: {
            ThingName: { 'Fn::Join': ['', [this.thingNamePrefix, { Ref: 'SerialNumber' }]] },
            ThingTypeName: thingTypeName,
            ThingGroups: [this.fleetThingGroup.thingGroupName],
            AttributePayload: { serial: { Ref: 'SerialNumber' }, model: { Ref: 'Model' }, firmwareVersion: { Ref: 'FirmwareVersion' } },
          },
        },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
        },
        policy: {
          Type: 'AWS::IoT::Policy',
          Properties: { PolicyName: this.devicePolicy.ref },
        },
      },
      DeviceConfiguration: {},
    };
  }

  private createProvisioningRole(thingTypeName: string): iam.Role {
    const stack = Stack.of(this);
    const thingArn = stack.formatArn({ service: 'iot', resource: 'thing', resourceName: `${this.thingNamePrefix}*` });
    const certificateArn = stack.formatArn({ service: 'iot', resource: 'cert', resourceName: '*' });
    const role = new iam.Role(this, 'ProvisioningRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Assumed by AWS IoT to register devices with the fleet provisioning template',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iot:CreateThing', 'iot:DescribeThing', 'iot:UpdateThing', 'iot:AttachThingPrincipal', 'iot:ListThingPrincipals', 'iot:AddThingToThingGroup', 'iot:ListThingGroupsForThing'],
      resources: [thingArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iot:AddThingToThingGroup', 'iot:DescribeThingGroup'],
      resources: [stack.formatArn({ service: 'iot', resource: 'thinggroup', resourceName: this.fleetThingGroup.thingGroupName })],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iot:DescribeThingType'],
      resources: [stack.formatArn({ service: 'iot', resource: 'thingtype', resourceName: thingTypeName })],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iot:DescribeCertificate', 'iot:UpdateCertificate', 'iot:AttachPolicy', 'iot:AttachPrincipalPolicy', 'iot:ListAttachedPolicies'],
      resources: [certificateArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iot:AttachPolicy', 'iot:AttachPrincipalPolicy', 'iot:GetPolicy'],
      resources: [stack.formatArn({ service: 'iot', resource: 'policy', resourceName: this.devicePolicy.ref })],
    }));
    acknowledgeRules(role, [
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/${this.thingNamePrefix}*]`,
        reason: 'The template creates things whose names are the platform prefix plus a serial not known at deploy time.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:cert/*]',
        reason: 'Device certificates are created during provisioning, so their ids are not known at deploy time.',
      },
    ]);
    return role;
  }

  private createResourcesFunction(logRetention?: logs.RetentionDays): lambda.Function {
    const stack = Stack.of(this);
    const fn = createHandler(this, 'IotResources', IotResourcesFunction, {
      description: 'Custom resources of the IoT setup: the claim certificate and the data endpoint lookup',
      timeout: Duration.minutes(2),
      memorySize: 256,
      encryptionKey: this.encryptionKey,
      logRetention,
      invokedSynchronously: false,
    });
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iot:CreateKeysAndCertificate', 'iot:DescribeEndpoint'],
      resources: ['*'],
    }));
    fn.addToRolePolicy(new iam.PolicyStatement({
      actions: ['iot:UpdateCertificate', 'iot:DeleteCertificate'],
      resources: [stack.formatArn({ service: 'iot', resource: 'cert', resourceName: '*' })],
    }));
    acknowledgeRules(fn.role!, [
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'CreateKeysAndCertificate and DescribeEndpoint support no resource-level permissions.' },
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:cert/*]',
        reason: 'The claim certificate id is generated when the certificate is created, so the role cannot name it in advance.',
      },
    ]);
    return fn;
  }
}

function validateProps(templateName: string, thingNamePrefix: string, serialPattern: string, allowedSerials?: string[]): void {
  requireMatch('templateName', templateName, TEMPLATE_NAME_PATTERN, 'Use 1 to 36 letters, digits, _ or -.');
  requireMatch('thingNamePrefix', thingNamePrefix, THING_NAME_PREFIX_PATTERN, 'Use at most 63 letters, digits, :, _ or -; topics and policies cannot contain / + or #.');

  let pattern: RegExp;
  try {
    pattern = new RegExp(serialPattern);
  } catch (error) {
    throw new Error(`Invalid serialPattern '${serialPattern}': ${(error as Error).message}. Give a JavaScript regular expression such as '${DEFAULT_SERIAL_PATTERN}'.`);
  }
  if (!serialPattern.startsWith('^') || !serialPattern.endsWith('$')) {
    throw new Error(`Invalid serialPattern '${serialPattern}': anchor it with ^ and $, for example '${DEFAULT_SERIAL_PATTERN}', so a serial cannot carry extra characters.`);
  }
  // A regular expression's language cannot be checked in general, so this rejects the common
  // mistakes. The hook also requires every serial to match the default character set.
  for (const forbidden of ['/', '+', '#', ' ']) {
    const probes = [forbidden, `A${forbidden}1`, ...(allowedSerials ?? []).map((serial) => `${serial}${forbidden}`)];
    // '+' is also a quantifier, so only its escaped form names the character itself.
    const written = serialPattern.includes(forbidden === '+' ? '\\+' : forbidden);
    if (written || probes.some((probe) => pattern.test(probe))) {
      throw new Error(`Invalid serialPattern '${serialPattern}': it accepts '${forbidden}', which cannot appear in a thing name or an MQTT topic level. Allow only letters, digits, _ and -.`);
    }
  }

  if (allowedSerials !== undefined && allowedSerials.length === 0) {
    throw new Error('Invalid allowedSerials []: an empty list would deny every device. Leave allowedSerials out to use the allowlist table, or list the serials.');
  }
  const serialsSize = (allowedSerials ?? []).join(',').length;
  if (serialsSize > MAX_ALLOWED_SERIALS_CHARACTERS) {
    throw new Error(`Invalid allowedSerials: ${allowedSerials!.length} serials take ${serialsSize} characters, more than the ${MAX_ALLOWED_SERIALS_CHARACTERS} that fit in the hook's environment. Leave allowedSerials out and put the serials in the allowlist table.`);
  }
  const safeSerial = new RegExp(DEFAULT_SERIAL_PATTERN);
  for (const serial of allowedSerials ?? []) {
    if (!safeSerial.test(serial)) {
      throw new Error(`Invalid allowedSerials entry '${serial}': serials are 1 to 64 letters, digits, _ or -, whatever serialPattern allows, because they become part of thing names and MQTT topics.`);
    }
    if (!pattern.test(serial)) {
      throw new Error(`Invalid allowedSerials entry '${serial}': it does not match serialPattern '${serialPattern}'. Fix the serial or the pattern.`);
    }
    if (thingNamePrefix.length + serial.length > MAX_THING_NAME_LENGTH) {
      throw new Error(`Invalid allowedSerials entry '${serial}': with prefix '${thingNamePrefix}' the thing name exceeds ${MAX_THING_NAME_LENGTH} characters.`);
    }
  }
}
