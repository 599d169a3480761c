import type { CfnTemplate } from './assembly/cloud-assembly';
import { LOCAL_ACCOUNT, LOCAL_REGION, ReferenceOverride, resolveIntrinsic } from './stepfunctions/definition';

/** URLs and ids of local services that template references resolve to. */
export interface LocalServiceAddresses {
  readonly graphqlUrl: string;
  readonly iotDataEndpointUrl: string;
  readonly userPoolId: string;
  readonly userPoolClientId: string;
  /** Id of the local claim certificate, once the local CA has issued it. */
  claimCertificateId?: string;
}

const arn = (service: string, resource: string, region = LOCAL_REGION, account = LOCAL_ACCOUNT) => `arn:aws:${service}:${region}:${account}:${resource}`;

/**
 * Returns the local value of a `Ref` or `Fn::GetAtt` that the generic rules of
 * `localReference` do not cover: endpoints of local services, and ARNs in the forms handlers
 * parse (thing groups, KMS keys, buckets, roles).
 */
export function localReferenceOverride(template: CfnTemplate, addresses: LocalServiceAddresses): ReferenceOverride {
  return (logicalId, attribute) => {
    const resource = template.Resources[logicalId];
    if (!resource) return undefined;
    const properties = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::AppSync::GraphQLApi':
        if (attribute === 'GraphQLUrl') return addresses.graphqlUrl;
        if (attribute === 'ApiId') return logicalId;
        return undefined;
      case 'Custom::IotDataEndpoint':
        return addresses.iotDataEndpointUrl;
      case 'Custom::IotClaimCertificate':
        if (!addresses.claimCertificateId) return undefined;
        return attribute === 'CertificateArn' ? arn('iot', `cert/${addresses.claimCertificateId}`) : addresses.claimCertificateId;
      case 'AWS::IoT::ThingGroup': {
        const name = String(properties.ThingGroupName ?? logicalId);
        return attribute === 'Arn' ? arn('iot', `thinggroup/${name}`) : name;
      }
      case 'AWS::IoT::ThingType': {
        const name = String(properties.ThingTypeName ?? logicalId);
        return attribute === 'Arn' ? arn('iot', `thingtype/${name}`) : name;
      }
      case 'AWS::KMS::Key':
        return attribute === 'Arn' ? arn('kms', `key/${logicalId}`) : logicalId;
      case 'AWS::S3::Bucket':
        if (attribute === 'Arn') return `arn:aws:s3:::${logicalId}`;
        return attribute === undefined ? logicalId : undefined;
      case 'AWS::IAM::Role':
        return attribute === 'Arn' ? `arn:aws:iam::${LOCAL_ACCOUNT}:role/${logicalId}` : logicalId;
      case 'AWS::SNS::Topic':
        return arn('sns', logicalId);
      case 'AWS::SecretsManager::Secret':
        return arn('secretsmanager', `secret:${logicalId}`);
      case 'AWS::Cognito::UserPool':
        return attribute === 'Arn' ? arn('cognito-idp', `userpool/${addresses.userPoolId}`) : addresses.userPoolId;
      case 'AWS::Cognito::UserPoolClient':
        return addresses.userPoolClientId;
      case 'AWS::KinesisFirehose::DeliveryStream':
        return attribute === 'Arn' ? arn('firehose', `deliverystream/${logicalId}`) : logicalId;
      case 'AWS::IoT::Policy':
        return logicalId;
      default:
        return undefined;
    }
  };
}

/** Resolves a template value with the local references of a running sandbox. */
export function localResolver(template: CfnTemplate, addresses: LocalServiceAddresses): (value: unknown) => string {
  const override = localReferenceOverride(template, addresses);
  return (value) => resolveIntrinsic(template as any, value, override);
}
