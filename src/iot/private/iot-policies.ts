import { Stack } from 'aws-cdk-lib';

const THING = '${iot:Connection.Thing.ThingName}';

interface PolicyStatement {
  readonly Effect: 'Allow';
  readonly Action: string[];
  readonly Resource: string[];
  readonly Condition?: Record<string, Record<string, string>>;
}

/** An AWS IoT Core policy document. */
export interface IotPolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: PolicyStatement[];
}

function arnPrefix(stack: Stack, kind: 'client' | 'topic' | 'topicfilter'): string {
  return `arn:${stack.partition}:iot:${stack.region}:${stack.account}:${kind}/`;
}

/**
 * Builds the policy of a provisioned device. Every resource is bound to the thing name of the
 * connection, and the connection must present a certificate attached to that thing, so a
 * device reaches only its own topics and its own job topics.
 */
export function devicePolicyDocument(stack: Stack): IotPolicyDocument {
  const client = arnPrefix(stack, 'client');
  const topic = arnPrefix(stack, 'topic');
  const filter = arnPrefix(stack, 'topicfilter');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['iot:Connect'],
        Resource: [`${client}${THING}`],
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      {
        Effect: 'Allow',
        Action: ['iot:Publish'],
        Resource: [
          `${topic}iot/capabilities/${THING}`,
          `${topic}iot/telemetry/${THING}`,
          `${topic}iot/status/${THING}/relay`,
          `${topic}iot/status/${THING}/energy`,
          `${topic}$aws/things/${THING}/jobs/get`,
          `${topic}$aws/things/${THING}/jobs/start-next`,
          `${topic}$aws/things/${THING}/jobs/*/get`,
          `${topic}$aws/things/${THING}/jobs/*/update`,
        ],
      },
      {
        Effect: 'Allow',
        Action: ['iot:Subscribe'],
        Resource: [
          `${filter}iot/control/${THING}/relay`,
          `${filter}iot/control/${THING}/reset`,
          `${filter}$aws/things/${THING}/jobs/*`,
        ],
      },
      {
        Effect: 'Allow',
        Action: ['iot:Receive'],
        Resource: [
          `${topic}iot/control/${THING}/relay`,
          `${topic}iot/control/${THING}/reset`,
          `${topic}$aws/things/${THING}/jobs/*`,
        ],
      },
    ],
  };
}

/**
 * Builds the policy of the claim certificate. It may connect with a client id that starts with
 * the thing name prefix, publish only the two certificate requests and this template's
 * provision request, and subscribe to and receive only their accepted and rejected replies.
 * Subscribe resources are topic filters, publish and receive resources are topics: mixing them
 * up denies silently.
 */
export function claimPolicyDocument(stack: Stack, templateName: string, thingNamePrefix: string): IotPolicyDocument {
  const client = arnPrefix(stack, 'client');
  const topic = arnPrefix(stack, 'topic');
  const filter = arnPrefix(stack, 'topicfilter');
  const requests = [
    '$aws/certificates/create/json',
    '$aws/certificates/create-from-csr/json',
    `$aws/provisioning-templates/${templateName}/provision/json`,
  ];
  const replies = requests.flatMap((request) => [`${request}/accepted`, `${request}/rejected`]);
  return {
    Version: '2012-10-17',
    Statement: [
      // NOTE: every device shares the claim certificate, so its holder can connect under any
      // client id with the prefix, including a provisioned device's, and AWS IoT then drops
      // that device's session. A separate client id namespace for claim sessions would close this.
      { Effect: 'Allow', Action: ['iot:Connect'], Resource: [`${client}${thingNamePrefix}*`] },
      { Effect: 'Allow', Action: ['iot:Publish'], Resource: requests.map((name) => `${topic}${name}`) },
      { Effect: 'Allow', Action: ['iot:Subscribe'], Resource: replies.map((name) => `${filter}${name}`) },
      { Effect: 'Allow', Action: ['iot:Receive'], Resource: replies.map((name) => `${topic}${name}`) },
    ],
  };
}
