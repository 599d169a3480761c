/** State of one relay as the registry stores it in a device's `relays` map. */
export interface RelayStateItem {
  readonly state: 'ON' | 'OFF';
  /** Device time of the report, epoch ms; older reports never overwrite newer ones. */
  readonly updatedAt: number;
  readonly commandId?: string;
}

/** A device in the devices table, keyed by `thingName`. */
export interface DeviceItem {
  readonly thingName: string;
  readonly ownerId?: string;
  readonly name?: string;
  readonly room?: string;
  readonly model?: string;
  readonly firmwareVersion?: string;
  readonly capabilities?: Record<string, any>;
  readonly capabilitiesHash?: string;
  readonly uiConfigKey?: string;
  readonly relays?: Record<string, RelayStateItem>;
  readonly online?: boolean;
  readonly lastSeenAt?: number;
  readonly createdAt?: number;
  readonly updatedAt?: number;
}

/** A relay command in the commands table, keyed by `commandId`. */
export interface CommandItem {
  readonly commandId: string;
  readonly thingName: string;
  readonly ownerId: string;
  readonly relay: string;
  readonly state: 'ON' | 'OFF';
  readonly status: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Task token of the waiting workflow; it never leaves the registry. */
  readonly taskToken?: string;
  readonly result?: string;
  readonly reason?: string;
  /** The device's acknowledgement, stored when it arrives and applied by the workflow. */
  readonly acknowledgement?: { readonly result: 'APPLIED' | 'DUPLICATE' | 'EXPIRED' | 'REJECTED'; readonly state: 'ON' | 'OFF'; readonly timestamp: number; readonly reason?: string | null };
  readonly completedAt?: number;
  /** Expiry of the record, epoch seconds. */
  readonly ttl: number;
}

/** How long command records are kept, in seconds. */
export const COMMAND_RECORD_TTL_SECONDS = 30 * 24 * 3600;
