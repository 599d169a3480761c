import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LocalS3Endpoint } from '../../sandbox/src/s3/local-s3-endpoint';

/**
 * Starts the local S3 endpoint with an empty bucket for every AWS::S3::Bucket of a template,
 * named after its logical id, which is the name that WorkflowHarness.loadHandler gives handlers
 * for a bucket reference. Handlers reach it when `AWS_ENDPOINT_URL_S3` is set to its `url`.
 */
export async function startLocalS3(template: { Resources: Record<string, { Type: string }> }): Promise<LocalS3Endpoint> {
  const endpoint = await LocalS3Endpoint.start();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::S3::Bucket') {
      endpoint.createBucket(logicalId);
    }
  }
  return endpoint;
}

/** Returns the local name of a bucket of the stack. */
export function localBucketName(stack: Stack, bucket: s3.IBucket): string {
  return stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
}
