import { CfnResource, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** A finding of a compliance rule pack, accepted with the reason a reviewer reads. */
export interface RuleAcknowledgement {
  /** Rule id as the pack reports it, for example `AwsSolutions-IAM5[Resource::*]`. */
  readonly id: string;
  /** Reason the finding is acceptable here. */
  readonly reason: string;
}

/**
 * Acknowledges cdk-nag findings on a construct and everything below it.
 */
export function acknowledgeRules(scope: IConstruct, acknowledgements: RuleAcknowledgement[]): void {
  for (const acknowledgement of acknowledgements) {
    Validations.of(scope).acknowledge(acknowledgement);
  }
}

/**
 * Adds checkov skips to a resource's template metadata, where checkov reads them
 * (`Metadata.checkov.skip`). Each skip carries its reason as the comment.
 */
export function skipCheckovChecks(resource: IConstruct, skips: RuleAcknowledgement[]): void {
  const cfn = resource instanceof CfnResource ? resource : resource.node.defaultChild;
  if (!(cfn instanceof CfnResource)) {
    throw new Error(`Cannot add checkov skips to ${resource.node.path}: it has no CloudFormation resource.`);
  }
  const existing = (cfn.getMetadata('checkov') as { skip?: { id: string; comment: string }[] } | undefined)?.skip ?? [];
  const added = skips.map((skip) => ({ id: skip.id, comment: skip.reason }));
  cfn.addMetadata('checkov', { skip: [...existing, ...added] });
}

/**
 * Acknowledges the action wildcards that CDK's KMS grants write (`kms:GenerateDataKey*`,
 * `kms:ReEncrypt*`) on a principal whose grants are limited to the platform's own key.
 */
export function acknowledgeKmsGrantWildcards(scope: IConstruct): void {
  const reason = 'CDK grants for KMS-encrypted queues and tables use these action wildcards, and the grant is limited to the platform key.';
  acknowledgeRules(scope, [
    { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason },
    { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason },
  ]);
}
