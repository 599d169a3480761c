import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { NotAuthorizedError, translateSdkError } from './errors';
import { DeviceItem } from './registry-items';
import { RegistryTableNames } from './registry-tables';

/**
 * Returns the device when the user is linked to it and owns it. Any other case, including a
 * device that does not exist, raises the same NotAuthorizedError, so callers learn nothing
 * about other users' device ids.
 */
export async function ownedDevice(db: DynamoDBDocumentClient, tables: RegistryTableNames, deviceId: string, userId: string): Promise<DeviceItem> {
  const link = await db.send(new GetCommand({ TableName: tables.links, Key: { userId, thingName: deviceId } }))
    .catch((error) => { throw translateSdkError(error, 'GetItem links'); });
  if (!link.Item) {
    throw new NotAuthorizedError(`Device '${deviceId}' is not linked to you.`);
  }
  const device = await db.send(new GetCommand({ TableName: tables.devices, Key: { thingName: deviceId } }))
    .catch((error) => { throw translateSdkError(error, 'GetItem devices'); });
  if (!device.Item || device.Item.ownerId !== userId) {
    throw new NotAuthorizedError(`Device '${deviceId}' is not linked to you.`);
  }
  return device.Item as DeviceItem;
}
