import type { CfnTemplate } from './cloud-assembly';

/** Treatment of one resource of the template by the sandbox. */
export type ResourceTreatment = 'emulated' | 'no-local-behaviour';

export interface InventoryEntry {
  readonly logicalId: string;
  readonly type: string;
  readonly treatment: ResourceTreatment;
  /** The local service that runs it, or why it has no local behaviour. */
  readonly detail: string;
}

/** A resource or integration that the sandbox cannot run. */
export class UnsupportedResourceError extends Error {
  constructor(public readonly unsupported: readonly { logicalId: string; type: string; reason: string }[]) {
    super(`The sandbox cannot run ${unsupported.length} resource(s) of this template:\n${unsupported.map((entry) => `  ${entry.logicalId} (${entry.type}): ${entry.reason}`).join('\n')}\nRemove them from the app, or run it on AWS.`);
    this.name = 'UnsupportedResourceError';
  }
}

const EMULATED: Record<string, string> = {
  'AWS::DynamoDB::Table': 'dynalite table named after the logical id',
  'AWS::Lambda::Function': 'bundled asset run in a warm worker thread with its template environment',
  'AWS::Lambda::EventSourceMapping': 'SQS poller that invokes the function',
  'AWS::SQS::Queue': 'in-memory queue with its redrive policy',
  'AWS::StepFunctions::StateMachine': 'definition run by aws-local-stepfunctions',
  'AWS::Events::EventBus': 'PutEvents endpoint',
  'AWS::Events::Rule': 'event pattern matched, targets invoked with their retry policy and dead-letter queue',
  'AWS::IoT::TopicRule': 'IoT SQL evaluated on every publish, actions and error action dispatched',
  'AWS::IoT::Policy': 'enforced by the MQTT broker on connect, publish, subscribe and receive',
  'AWS::IoT::ProvisioningTemplate': 'fleet provisioning MQTT API with the template body and its pre-provisioning hook',
  'AWS::IoT::PolicyPrincipalAttachment': 'attaches the claim policy to the local claim certificate',
  'AWS::IoT::ThingGroup': 'thing group of the local registry, filled by the provisioning template',
  'AWS::IoT::ThingType': 'recorded on each thing that the provisioning template registers',
  'Custom::IotClaimCertificate': 'replaced by a claim certificate from the local CA',
  'Custom::IotDataEndpoint': 'replaced by the local IoT data-plane endpoint',
  'AWS::AppSync::GraphQLApi': 'GraphQL over HTTP and the AppSync real-time WebSocket protocol',
  'AWS::AppSync::GraphQLSchema': 'schema served by the local AppSync server',
  'AWS::AppSync::DataSource': 'Lambda and NONE data sources run locally',
  'AWS::AppSync::Resolver': 'APPSYNC_JS code run with the local AppSync utilities',
  'AWS::Cognito::UserPool': 'local user pool that signs RS256 JWTs for demo users',
  'AWS::Cognito::UserPoolClient': 'client id of the local user pool',
  'AWS::Cognito::UserPoolGroup': 'group claim (cognito:groups) of local users',
  'AWS::S3::Bucket': 'in-memory bucket named after the logical id',
  'AWS::SecretsManager::Secret': 'in-memory secret with a random value',
  'AWS::KinesisFirehose::DeliveryStream': 'PutRecord/PutRecordBatch endpoint that keeps records in memory',
  'AWS::KMS::Key': 'signing keys (ECC_NIST_P256) sign locally; encryption keys have no local effect',
};

const NO_LOCAL_BEHAVIOUR: Record<string, string> = {
  'AWS::IAM::Role': 'IAM is not evaluated locally; every local call is allowed',
  'AWS::IAM::Policy': 'IAM is not evaluated locally',
  'AWS::IAM::ManagedPolicy': 'IAM is not evaluated locally',
  'AWS::Lambda::Permission': 'resource policies are not evaluated locally',
  'AWS::S3::BucketPolicy': 'resource policies are not evaluated locally',
  'AWS::SQS::QueuePolicy': 'resource policies are not evaluated locally',
  'AWS::SNS::TopicPolicy': 'resource policies are not evaluated locally',
  'AWS::SNS::Topic': 'alarm topic; alarms do not run locally',
  'AWS::Logs::LogGroup': 'function logs go to the sandbox log file',
  'AWS::Logs::LogStream': 'no logs are shipped locally',
  'AWS::Logs::MetricFilter': 'no metrics locally',
  'AWS::CloudWatch::Alarm': 'no metrics locally',
  'AWS::CloudWatch::Dashboard': 'no metrics locally',
  'AWS::Events::Archive': 'events are not archived locally',
  'AWS::Glue::Database': 'Athena does not run locally; the archive records stay in memory',
  'AWS::Glue::Table': 'Athena does not run locally',
  'AWS::Cognito::IdentityPool': 'the dashboard signs in with user pool tokens only',
  'AWS::Cognito::IdentityPoolRoleAttachment': 'IAM is not evaluated locally',
  'AWS::SSM::Parameter': 'values are printed by `up` as the local configuration',
  'AWS::Amplify::App': 'hosting; serve the dashboard locally instead',
  'AWS::Amplify::Branch': 'hosting; serve the dashboard locally instead',
  'AWS::Amplify::Domain': 'hosting; serve the dashboard locally instead',
  'AWS::IoT::AccountAuditConfiguration': 'Device Defender audits do not run locally',
  'AWS::IoT::ScheduledAudit': 'Device Defender audits do not run locally',
  'AWS::CDK::Metadata': 'CDK metadata',
};

/**
 * Classifies every resource of a template. Throws UnsupportedResourceError, naming each logical
 * id and type, when any resource is neither run locally nor known to have no local behaviour.
 */
export function inventoryOf(template: CfnTemplate): InventoryEntry[] {
  const entries: InventoryEntry[] = [];
  const unsupported: { logicalId: string; type: string; reason: string }[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const emulated = EMULATED[resource.Type];
    const inert = NO_LOCAL_BEHAVIOUR[resource.Type];
    if (emulated) {
      entries.push({ logicalId, type: resource.Type, treatment: 'emulated', detail: emulated });
    } else if (inert) {
      entries.push({ logicalId, type: resource.Type, treatment: 'no-local-behaviour', detail: inert });
    } else {
      unsupported.push({ logicalId, type: resource.Type, reason: 'resource type has no local implementation' });
    }
  }
  unsupported.push(...unsupportedIntegrations(template));
  if (unsupported.length > 0) {
    throw new UnsupportedResourceError(unsupported);
  }
  return entries;
}

/** Integrations inside supported resources that the sandbox cannot run. */
function unsupportedIntegrations(template: CfnTemplate): { logicalId: string; type: string; reason: string }[] {
  const found: { logicalId: string; type: string; reason: string }[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const properties = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        for (const topic of referencedResources(properties.Environment?.Variables, template, 'AWS::SNS::Topic')) {
          found.push({ logicalId, type: resource.Type, reason: `its environment references SNS topic ${topic}; the sandbox has no SNS Publish endpoint` });
        }
        if (!String(properties.Runtime ?? '').startsWith('nodejs') || properties.Code?.ZipFile !== undefined || properties.PackageType === 'Image') {
          found.push({ logicalId, type: resource.Type, reason: `only Node.js functions with a file asset run locally (runtime ${properties.Runtime ?? 'none'})` });
        }
        break;
      case 'AWS::IoT::TopicRule':
        for (const action of [...(properties.TopicRulePayload?.Actions ?? []), properties.TopicRulePayload?.ErrorAction].filter(Boolean)) {
          const kinds = Object.keys(action).filter((kind) => !['Sqs', 'Lambda'].includes(kind));
          if (kinds.length > 0) {
            found.push({ logicalId, type: resource.Type, reason: `topic rule action ${kinds.join(', ')} has no local implementation (Sqs and Lambda do)` });
          }
        }
        break;
      case 'AWS::Events::Rule':
        for (const target of properties.Targets ?? []) {
          const arn = JSON.stringify(target.Arn);
          const targetId = /"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/.exec(arn)?.[1];
          const targetType = targetId ? template.Resources[targetId]?.Type : undefined;
          if (!targetType || !['AWS::StepFunctions::StateMachine', 'AWS::SQS::Queue', 'AWS::Lambda::Function'].includes(targetType)) {
            found.push({ logicalId, type: resource.Type, reason: `target ${target.Id} (${targetType ?? arn}) is not a state machine, queue or function of this template` });
          }
          if (target.InputTransformer !== undefined) {
            found.push({ logicalId, type: resource.Type, reason: `target ${target.Id} uses an input transformer, which the sandbox does not apply` });
          }
        }
        break;
      case 'AWS::AppSync::Resolver':
        if (properties.Kind === 'PIPELINE' || (properties.Runtime?.Name ?? 'APPSYNC_JS') !== 'APPSYNC_JS') {
          found.push({ logicalId, type: resource.Type, reason: 'only UNIT resolvers with APPSYNC_JS code run locally' });
        }
        break;
      default:
        break;
    }
  }
  return found;
}

/** Logical ids of the resources of a type that a template value references with Ref or Fn::GetAtt. */
function referencedResources(value: unknown, template: CfnTemplate, type: string): string[] {
  const text = JSON.stringify(value ?? {});
  const ids = [...text.matchAll(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/g)].map((match) => match[1]);
  return [...new Set(ids)].filter((id) => template.Resources[id]?.Type === type);
}
