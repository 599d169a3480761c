/**
 * A local MQTT broker for the sandbox: aedes behind a TLS server that requires client
 * certificates from the local CA, on 127.0.0.1. Authorization goes through an optional
 * authorizer, the seam where IoT policy enforcement plugs in; without one every authenticated
 * client may publish and subscribe to anything.
 */
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { Aedes } from 'aedes';
import type { Client } from 'aedes';
import type { LocalCa } from './local-ca';

/** Identity of a connected client, as passed to the authorizer. */
export interface ClientIdentity {
  /** MQTT client id. */
  readonly clientId: string;
  /** Subject common name of the client certificate. */
  readonly certificateCommonName: string | undefined;
  /** SHA-256 fingerprint of the client certificate (colon-separated hex, as Node reports it). */
  readonly certificateFingerprint256: string | undefined;
}

/** Authorization callbacks. All but authorizeReceive may return a promise, and omitted callbacks allow. */
export interface BrokerAuthorizer {
  authenticate?(identity: ClientIdentity): boolean | Promise<boolean>;
  authorizePublish?(identity: ClientIdentity, topic: string): boolean | Promise<boolean>;
  authorizeSubscribe?(identity: ClientIdentity, topicFilter: string): boolean | Promise<boolean>;
  /**
   * Decides whether a subscribed client receives a message on topic. It must be synchronous
   * because aedes forwards messages synchronously. A denied message is dropped for that client only.
   */
  authorizeReceive?(identity: ClientIdentity, topic: string): boolean;
}

/** A publish received from a client, after authorization. */
/** A client that connected or disconnected. */
export interface ConnectionEvent {
  readonly clientId: string;
  readonly certificateId?: string;
  /** For disconnects: CLIENT_INITIATED_DISCONNECT or CONNECTION_LOST, as AWS IoT lifecycle events name them. */
  readonly reason?: string;
}

export interface ReceivedMessage {
  /** SHA-256 of the sender's certificate in lower-case hex, as AWS IoT names certificates. */
  readonly certificateId?: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly clientId: string;
}

export interface LocalMqttBrokerOptions {
  /** CA that issues the server certificate and whose client certificates are accepted. */
  readonly ca: LocalCa;
  /** Address to listen on. Default 127.0.0.1. */
  readonly host?: string;
  /** TCP port; 0 (the default) picks a free port. */
  readonly port?: number;
  readonly authorizer?: BrokerAuthorizer;
}

function certificateIdOfClient(client: Client): string | undefined {
  const fingerprint = identityOf(client).certificateFingerprint256;
  return fingerprint?.replace(/:/g, '').toLowerCase();
}

function identityOf(client: Client): ClientIdentity {
  const socket = client.conn as tls.TLSSocket;
  const certificate = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const commonName = certificate?.subject?.CN;
  return {
    clientId: client.id,
    certificateCommonName: Array.isArray(commonName) ? commonName[0] : commonName,
    certificateFingerprint256: certificate?.fingerprint256,
  };
}

/** Largest message AWS IoT Core accepts, 128 KB. */
const MAX_MESSAGE_BYTES = 128 * 1024;

export class LocalMqttBroker {
  /** Starts the broker and resolves once it listens. */
  public static async start(options: LocalMqttBrokerOptions): Promise<LocalMqttBroker> {
    const server = await options.ca.issueServerCertificate([options.host ?? '127.0.0.1', 'localhost']);
    const broker = new LocalMqttBroker(await Aedes.createBroker(), options.authorizer ?? {});
    try {
      await broker.listen(options, server.certificatePem, server.privateKeyPem);
    } catch (error) {
      await new Promise<void>((resolve) => broker.aedes.close(() => resolve()));
      throw new Error(`The MQTT broker cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${(error as Error).message}. Choose another port (--mqtt-port) or 0 for a free one.`);
    }
    return broker;
  }

  /** Port the broker listens on. */
  public port = 0;
  /** Address the broker listens on. */
  public host = '127.0.0.1';

  private server: tls.Server | undefined;
  private readonly sockets = new Set<tls.TLSSocket>();
  private readonly listeners = new Set<(message: ReceivedMessage) => void>();
  private readonly connectListeners = new Set<(client: ConnectionEvent) => void>();
  private readonly disconnectListeners = new Set<(client: ConnectionEvent) => void>();
  /** Replies addressed to one client, keyed by their payload buffer (aedes keeps that reference). */
  private readonly targets = new WeakMap<Buffer, string>();
  /** Identity of each client, read from its certificate on the first delivery and reused after. */
  private readonly identities = new WeakMap<Client, ClientIdentity>();

  private constructor(private readonly aedes: Aedes, private readonly authorizer: BrokerAuthorizer) {
    this.watchConnections(aedes);
    aedes.authenticate = (client, _username, _password, done) => {
      Promise.resolve(this.authorizer.authenticate?.(identityOf(client)) ?? true).then(
        (allowed) => done(null, allowed),
        () => done(null, false),
      );
    };
    aedes.authorizePublish = (client, packet, done) => {
      if (!client) return done(null);
      // AWS IoT Core disconnects a client that publishes more than 128 KB or with QoS 2.
      const size = Buffer.isBuffer(packet.payload) ? packet.payload.length : Buffer.byteLength(String(packet.payload));
      if (size > MAX_MESSAGE_BYTES || packet.qos === 2) {
        return done(new Error(`publish to ${packet.topic} rejected: ${packet.qos === 2 ? 'QoS 2 is not supported' : `${size} bytes is over the 128 KB limit`}`));
      }
      Promise.resolve(this.authorizer.authorizePublish?.(identityOf(client), packet.topic) ?? true).then(
        (allowed) => done(allowed ? null : new Error(`publish to ${packet.topic} is not authorized`)),
        (error: Error) => done(error),
      );
    };
    aedes.authorizeSubscribe = (client, subscription, done) => {
      Promise.resolve(this.authorizer.authorizeSubscribe?.(identityOf(client), subscription.topic) ?? true).then(
        (allowed) => done(null, allowed ? subscription : null),
        (error: Error) => done(error),
      );
    };
    aedes.authorizeForward = (client, packet) => {
      const target = this.targets.get(packet.payload as Buffer);
      if (target !== undefined && target !== client.id) return null;
      if (!this.authorizer.authorizeReceive) return packet;
      return this.authorizer.authorizeReceive(this.identityFor(client), packet.topic) ? packet : null;
    };
    aedes.published = (packet, client, done) => {
      if (client && !packet.topic.startsWith('$SYS/')) {
        const message: ReceivedMessage = {
          topic: packet.topic,
          payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
          qos: packet.qos,
          clientId: client.id,
          certificateId: certificateIdOfClient(client),
        };
        for (const listener of this.listeners) listener(message);
      }
      done(null);
    };
  }

  private watchConnections(aedes: Aedes): void {
    aedes.on('client', (client) => {
      const event: ConnectionEvent = { clientId: client.id, certificateId: certificateIdOfClient(client) };
      for (const listener of this.connectListeners) listener(event);
    });
    aedes.on('clientDisconnect', (client) => {
      // aedes sets _disconnected only when the client sent a DISCONNECT packet.
      const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
      const event: ConnectionEvent = {
        clientId: client.id,
        certificateId: certificateIdOfClient(client),
        reason: clean ? 'CLIENT_INITIATED_DISCONNECT' : 'CONNECTION_LOST',
      };
      for (const listener of this.disconnectListeners) listener(event);
    });
  }

  /** Registers a listener for each client that connects and passes authentication. */
  public onClientConnected(listener: (client: ConnectionEvent) => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  /** Registers a listener for each authenticated client that disconnects or loses its connection. */
  public onClientDisconnected(listener: (client: ConnectionEvent) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  /** Registers a listener for every publish a client sends; returns a function that removes it. */
  public onPublish(listener: (message: ReceivedMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a message as the cloud. */
  public publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
    return this.publishPacket(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos);
  }

  /**
   * Publishes a message that only clientId receives, even when other clients subscribe to the
   * topic, as AWS IoT does for the replies of the fleet provisioning API.
   */
  public publishTo(clientId: string, topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
    const buffer = Buffer.isBuffer(payload) ? Buffer.from(payload) : Buffer.from(payload);
    this.targets.set(buffer, clientId);
    return this.publishPacket(topic, buffer, qos);
  }

  /** Closes all connections and the listener. */
  public async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private identityFor(client: Client): ClientIdentity {
    let identity = this.identities.get(client);
    if (!identity) {
      identity = identityOf(client);
      this.identities.set(client, identity);
    }
    return identity;
  }

  private publishPacket(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  private listen(options: LocalMqttBrokerOptions, certificatePem: string, privateKeyPem: string): Promise<void> {
    this.server = tls.createServer(
      {
        cert: certificatePem,
        key: privateKeyPem,
        ca: [options.ca.certificatePem],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        socket.setNoDelay(true);
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        this.aedes.handle(socket);
      },
    );
    this.server.on('tlsClientError', () => {
      /* A client without a valid certificate is dropped during the handshake. */
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        const address = this.server!.address() as AddressInfo;
        this.port = address.port;
        this.host = address.address;
        resolve();
      });
    });
  }
}
