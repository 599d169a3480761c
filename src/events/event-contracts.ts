/**
 * Sources of the platform's domain events on its EventBridge bus.
 */
export class PlatformEventSource {
  /** Events that devices cause: messages turned into events by the IoT rules. */
  public static readonly DEVICE = 'cdk-smart-home.device';
  /** Events that the platform's workflows emit. */
  public static readonly WORKFLOW = 'cdk-smart-home.workflow';
  /** Events that users cause through the GraphQL API. */
  public static readonly API = 'cdk-smart-home.api';

  private constructor() {}
}

/**
 * Detail types of the platform's domain events. Rules on the platform bus match on these.
 */
export class PlatformEventType {
  public static readonly DEVICE_PROVISIONED = 'Device Provisioned';
  public static readonly DEVICE_CAPABILITIES_REPORTED = 'Device Capabilities Reported';
  public static readonly DEVICE_ONBOARDED = 'Device Onboarded';
  public static readonly DEVICE_LINKED = 'Device Linked';
  public static readonly DEVICE_UNLINKED = 'Device Unlinked';
  public static readonly RELAY_COMMAND_REQUESTED = 'Relay Command Requested';
  public static readonly RELAY_STATE_REPORTED = 'Relay State Reported';
  public static readonly ENERGY_STATUS_REPORTED = 'Energy Status Reported';
  public static readonly TELEMETRY_REPORTED = 'Telemetry Reported';
  public static readonly DEVICE_CONNECTED = 'Device Connected';
  public static readonly DEVICE_DISCONNECTED = 'Device Disconnected';
  public static readonly TELEMETRY_ANOMALY_DETECTED = 'Telemetry Anomaly Detected';
  /**
   * A telemetry reading crossed the threshold of a READING automation rule inside its schedule
   * window. The detail follows contract/schemas/automation-rule-triggered.schema.json.
   */
  public static readonly AUTOMATION_RULE_TRIGGERED = 'Automation Rule Triggered';
  public static readonly FIRMWARE_ROLLOUT_REQUESTED = 'Firmware Rollout Requested';
  public static readonly FIRMWARE_ROLLOUT_COMPLETED = 'Firmware Rollout Completed';

  private constructor() {}
}

/**
 * Fields that the IoT rules add to every device message before it becomes an event detail.
 * The rest of the detail is the device's payload as the contract schema defines it.
 */
export interface DeviceMessageDetail {
  /** Thing name taken from the MQTT topic, never from the payload. */
  readonly thingName: string;
  /** Time in epoch milliseconds at which AWS IoT received the message. */
  readonly receivedAt: number;
}

/**
 * Detail of a Device Connected or Device Disconnected event, taken from the AWS IoT lifecycle
 * event of the thing's MQTT client.
 */
export interface DevicePresenceDetail {
  readonly thingName: string;
  /** `connected` or `disconnected`. */
  readonly eventType: string;
  /** Time of the lifecycle event in epoch milliseconds. */
  readonly timestamp: number;
  /** Increases with each new session of the client, so the newest session wins. */
  readonly versionNumber: number;
  readonly sessionIdentifier: string;
}
