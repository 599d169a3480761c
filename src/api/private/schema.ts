/**
 * GraphQL schema of the platform API. Users sign in with the Cognito user pool (the default
 * mode); the backend publishes device updates with IAM, so `publishDeviceUpdate` is the only
 * operation that IAM callers reach and users cannot call it.
 */
export const PLATFORM_SCHEMA = `
schema {
  query: Query
  mutation: Mutation
  subscription: Subscription
}

enum RelayState {
  ON
  OFF
}

enum CommandStatus {
  PENDING
  SUCCEEDED
  REJECTED
  EXPIRED
  TIMED_OUT
  FAILED
}

type User @aws_cognito_user_pools {
  id: ID!
  email: AWSEmail
}

type Relay @aws_cognito_user_pools @aws_iam {
  id: ID!
  name: String
  state: RelayState
  updatedAt: AWSTimestamp
}

type Sensor @aws_cognito_user_pools @aws_iam {
  id: ID!
  type: String!
  name: String
  unit: String
  min: Float
  max: Float
  cumulative: Boolean
}

type Reading @aws_cognito_user_pools @aws_iam {
  sensorId: ID!
  "Null when the device reported no value."
  value: Float
  unit: String
  timestamp: AWSTimestamp
}

type Device @aws_cognito_user_pools @aws_iam {
  "The device id, which is its AWS IoT thing name."
  id: ID!
  name: String
  room: String
  model: String
  firmwareVersion: String
  online: Boolean
  lastSeenAt: AWSTimestamp
  relays: [Relay!]!
  sensors: [Sensor!]!
}

type DeviceConnection @aws_cognito_user_pools {
  items: [Device!]!
  nextToken: String
}

type DeviceState @aws_cognito_user_pools @aws_iam {
  deviceId: ID!
  online: Boolean
  relays: [Relay!]!
  readings: [Reading!]!
  updatedAt: AWSTimestamp
}

"A device's UI document, generated from its capability document."
type DeviceUi @aws_cognito_user_pools {
  deviceId: ID!
  schemaVersion: Int!
  document: AWSJSON!
}

type RelayCommand @aws_cognito_user_pools @aws_iam {
  commandId: ID!
  deviceId: ID!
  relay: ID!
  state: RelayState!
  status: CommandStatus!
  issuedAt: AWSTimestamp!
  expiresAt: AWSTimestamp!
}

"A change to a device, pushed to its owner's onDeviceUpdate subscription."
type DeviceUpdate @aws_cognito_user_pools @aws_iam {
  deviceId: ID!
  ownerId: ID!
  kind: String!
  state: DeviceState
  command: RelayCommand
  "True when the device was removed; the subscription ends after this update."
  removed: Boolean
  at: AWSTimestamp!
}

"A short-lived token that the app hands to a device during Wi-Fi setup, so the device links to this user when it announces itself."
type ClaimToken @aws_cognito_user_pools {
  token: String!
  expiresAt: AWSTimestamp!
}

"A pairing code to print as a QR code on a device or show on its display. Only its hash is stored."
type PairingCode @aws_cognito_user_pools {
  deviceId: ID!
  code: String!
  expiresAt: AWSTimestamp!
}

input RegisterDeviceInput {
  deviceId: ID!
  name: String
  room: String
}

input DeviceUpdateInput {
  deviceId: ID!
  ownerId: ID!
  kind: String!
  state: AWSJSON
  command: AWSJSON
  removed: Boolean
  at: AWSTimestamp!
}

type Query {
  "Devices linked to the signed-in user, one page at a time."
  getMyDevices(limit: Int, nextToken: String): DeviceConnection! @aws_cognito_user_pools
  getDeviceState(deviceId: ID!): DeviceState @aws_cognito_user_pools
  getDeviceUi(deviceId: ID!): DeviceUi @aws_cognito_user_pools
  me: User @aws_cognito_user_pools
}

type Mutation {
  "Switches a relay. Returns at once with the command in PENDING; the outcome arrives on onDeviceUpdate."
  controlRelay(deviceId: ID!, relay: ID!, state: RelayState!): RelayCommand! @aws_cognito_user_pools
  "Sets the owner-facing name and room of a linked device."
  registerDevice(input: RegisterDeviceInput!): Device! @aws_cognito_user_pools
  "Links a device to the signed-in user with the pairing code printed on the device or shown by it."
  addDevice(code: String!): Device! @aws_cognito_user_pools
  "Unlinks a device, sends it a reset and ends live subscriptions for it."
  removeDevice(deviceId: ID!): ID! @aws_cognito_user_pools
  "Issues an auto-discovery claim token for the signed-in user."
  createClaimToken: ClaimToken! @aws_cognito_user_pools
  "Issues a pairing code for a device; for members of the admins group, such as installers."
  createPairingCode(deviceId: ID!): PairingCode! @aws_cognito_user_pools(cognito_groups: ["admins"])
  "Used by the backend to push a device update to subscribers."
  publishDeviceUpdate(input: DeviceUpdateInput!): DeviceUpdate! @aws_iam
}

type Subscription {
  "Changes to the signed-in user's devices; the server filters by owner."
  onDeviceUpdate(deviceId: ID): DeviceUpdate @aws_subscribe(mutations: ["publishDeviceUpdate"]) @aws_cognito_user_pools
}
`;
