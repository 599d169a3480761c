/**
 * GraphQL schema of the platform API. Users sign in with the Cognito user pool, the default
 * mode. The backend publishes device updates with IAM, so `publishDeviceUpdate` is the only
 * operation that IAM callers reach, and users cannot call it.
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

"A firmware rollout as the API reports it when it starts."
type FirmwareRollout @aws_cognito_user_pools {
  rolloutId: ID!
  version: String!
  status: String!
  startedAt: AWSTimestamp!
}

input FirmwareRolloutInput {
  "Id of the rollout, also the name of its workflow execution: letters, digits, _ and -."
  rolloutId: ID!
  version: String!
  "Key of the signed image in the firmware bucket; its signature is the object <imageKey>.sig."
  imageKey: String!
  "Thing group to update. Defaults to the fleet's thing group."
  thingGroupArn: String
  "Rollout waves in percent of the targets, increasing and ending at 100."
  waves: [Int!]
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
  "The signed-in user's automation rules, one page at a time."
  listAutomationRules(limit: Int, nextToken: String): AutomationRuleConnection! @aws_cognito_user_pools
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
  "Starts a rollout of signed firmware; for members of the admins group."
  startFirmwareRollout(input: FirmwareRolloutInput!): FirmwareRollout! @aws_cognito_user_pools(cognito_groups: ["admins"])
  "Used by the backend to push a device update to subscribers."
  publishDeviceUpdate(input: DeviceUpdateInput!): DeviceUpdate! @aws_iam
  "Creates an automation rule. Both devices that it names must be linked to the signed-in user."
  createAutomationRule(input: AutomationRuleInput!): AutomationRule! @aws_cognito_user_pools
  "Replaces the definition of one of the signed-in user's automation rules; its cooldown continues."
  updateAutomationRule(ruleId: ID!, input: AutomationRuleInput!): AutomationRule! @aws_cognito_user_pools
  "Deletes one of the signed-in user's automation rules and returns its id."
  deleteAutomationRule(ruleId: ID!): ID! @aws_cognito_user_pools
}

type Subscription {
  "Changes to the signed-in user's devices; the server filters by owner."
  onDeviceUpdate(deviceId: ID): DeviceUpdate @aws_subscribe(mutations: ["publishDeviceUpdate"]) @aws_cognito_user_pools
}

enum AutomationConditionSource {
  ANOMALY
  READING
}

enum AnomalyKind {
  SPIKE
  DRIFT
  STUCK
  OVER_CURRENT
}

enum ComparisonOperator {
  GT
  LT
}

"The event on one device that fires an automation rule."
type AutomationCondition @aws_cognito_user_pools {
  deviceId: ID!
  source: AutomationConditionSource!
  "ANOMALY only: the anomaly kind that fires the rule; any kind when null."
  anomalyKind: AnomalyKind
  "The sensor whose anomalies or readings fire the rule; for ANOMALY, any sensor when null."
  sensorId: ID
  "READING only: GT fires above the threshold, LT below it."
  operator: ComparisonOperator
  "READING only: the threshold, in the sensor's unit."
  threshold: Float
}

"The relay that an automation rule switches."
type AutomationAction @aws_cognito_user_pools {
  deviceId: ID!
  relay: ID!
  state: RelayState!
}

"A daily window in local time, in minutes after midnight. It includes startMinute and excludes endMinute; an endMinute before startMinute crosses midnight."
type AutomationSchedule @aws_cognito_user_pools {
  startMinute: Int!
  endMinute: Int!
  "IANA time zone name, such as Europe/Berlin."
  timeZone: String!
}

"A rule that switches a relay when a condition on a device holds."
type AutomationRule @aws_cognito_user_pools {
  ruleId: ID!
  ownerId: ID!
  name: String!
  enabled: Boolean!
  condition: AutomationCondition!
  action: AutomationAction!
  "Null when the rule may fire at any time."
  schedule: AutomationSchedule
  "Time after firing during which the rule does not fire again."
  cooldownSeconds: Int!
  createdAt: AWSTimestamp!
  updatedAt: AWSTimestamp!
  lastFiredAt: AWSTimestamp
}

type AutomationRuleConnection @aws_cognito_user_pools {
  items: [AutomationRule!]!
  nextToken: String
}

input AutomationConditionInput {
  deviceId: ID!
  source: AutomationConditionSource!
  anomalyKind: AnomalyKind
  sensorId: ID
  operator: ComparisonOperator
  threshold: Float
}

input AutomationActionInput {
  deviceId: ID!
  relay: ID!
  state: RelayState!
}

input AutomationScheduleInput {
  startMinute: Int!
  endMinute: Int!
  timeZone: String!
}

input AutomationRuleInput {
  name: String!
  "Defaults to true."
  enabled: Boolean
  condition: AutomationConditionInput!
  action: AutomationActionInput!
  "Leave out for a rule that may fire at any time."
  schedule: AutomationScheduleInput
  "From 60 to 604800; defaults to 300."
  cooldownSeconds: Int
}
`;
