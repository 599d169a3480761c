import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { translateSdkError } from './errors';
import { RelayStateItem } from './registry-items';

/**
 * Records a relay's state in the devices table unless the registry already has a newer
 * report, so reports that arrive out of order never roll the state back. Returns whether the
 * state was written.
 */
export async function recordRelayState(
  db: DynamoDBDocumentClient,
  devicesTable: string,
  thingName: string,
  relay: string,
  state: RelayStateItem,
): Promise<boolean> {
  try {
    await db.send(new UpdateCommand({
      TableName: devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET relays.#relay = :state',
      ConditionExpression: 'attribute_exists(thingName) AND (attribute_not_exists(relays.#relay) OR relays.#relay.updatedAt <= :at)',
      ExpressionAttributeNames: { '#relay': relay },
      ExpressionAttributeValues: { ':state': state, ':at': state.updatedAt },
    }));
    return true;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'ConditionalCheckFailedException') {
      return false;
    }
    if (name !== 'ValidationException') {
      throw translateSdkError(error, 'UpdateItem devices');
    }
  }

  // A device registered before it reported any relay has no relays map yet.
  try {
    await db.send(new UpdateCommand({
      TableName: devicesTable,
      Key: { thingName },
      UpdateExpression: 'SET relays = :relays',
      ConditionExpression: 'attribute_exists(thingName) AND attribute_not_exists(relays)',
      ExpressionAttributeValues: { ':relays': { [relay]: state } },
    }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') {
      return recordRelayState(db, devicesTable, thingName, relay, state);
    }
    throw translateSdkError(error, 'UpdateItem devices');
  }
}
