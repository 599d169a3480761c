import { generateKeyPairSync, JsonWebKey, KeyObject, randomBytes, randomUUID, scryptSync, sign, timingSafeEqual, verify } from 'node:crypto';

/** Options of a LocalUserPool. */
export interface LocalUserPoolOptions {
  /** Base URL of the pool's HTTP front; the issuer claim is `<baseUrl>/<userPoolId>`. */
  readonly baseUrl: string;
  /** @default 'us-east-1_local' */
  readonly userPoolId?: string;
  /** Id of the single app client; tokens carry it as `aud` and `client_id`. @default 'localclient' */
  readonly clientId?: string;
  /** Lifetime of ID and access tokens in seconds. @default 3600, as Cognito issues them by default */
  readonly tokenValiditySeconds?: number;
  /** Current time in milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
}

/** Tokens that a successful sign-in returns, named as in Cognito's AuthenticationResult. */
export interface AuthenticationResult {
  readonly IdToken: string;
  readonly AccessToken: string;
  readonly RefreshToken: string;
  readonly ExpiresIn: number;
  readonly TokenType: 'Bearer';
}

/** Claims of a verified ID or access token. */
export type TokenClaims = Record<string, unknown> & {
  readonly 'sub': string;
  readonly 'iss': string;
  readonly 'token_use': 'id' | 'access';
  readonly 'exp': number;
  readonly 'iat': number;
  readonly 'cognito:groups'?: string[];
};

/** An error in the shape of the Cognito Identity Provider API, such as `NotAuthorizedException`. */
export class CognitoError extends Error {
  constructor(public readonly code: string, message: string, public readonly statusCode = 400) {
    super(message);
    this.name = code;
  }
}

interface StoredUser {
  readonly sub: string;
  readonly username: string;
  readonly salt: Buffer;
  readonly passwordHash: Buffer;
  readonly groups: string[];
  readonly email?: string;
}

const SCRYPT_KEY_LENGTH = 64;

/**
 * An in-memory Cognito user pool with one app client. It signs RS256 ID and access tokens with
 * a key pair generated when the pool is created, with the claims that Cognito puts in them, and
 * keeps passwords only as scrypt hashes.
 */
export class LocalUserPool {
  public readonly userPoolId: string;
  public readonly clientId: string;
  /** The `iss` claim of every token: `<baseUrl>/<userPoolId>`, as Cognito's is `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`. */
  public readonly issuer: string;

  private readonly users = new Map<string, StoredUser>();
  private readonly refreshTokens = new Map<string, string>();
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly keyId = randomUUID();
  private readonly tokenValiditySeconds: number;
  private readonly clock: () => number;

  constructor(options: LocalUserPoolOptions) {
    this.userPoolId = options.userPoolId ?? 'us-east-1_local';
    this.clientId = options.clientId ?? 'localclient';
    this.issuer = `${options.baseUrl.replace(/\/+$/, '')}/${this.userPoolId}`;
    this.tokenValiditySeconds = options.tokenValiditySeconds ?? 3600;
    this.clock = options.clock ?? Date.now;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }

  /**
   * Creates a confirmed user. A username that is an email address also becomes the `email`
   * claim unless `email` is given.
   */
  public createUser(username: string, password: string, groups: string[] = [], email?: string, sub?: string): { sub: string } {
    if (!username) {
      throw new CognitoError('InvalidParameterException', 'username must not be empty.');
    }
    if (this.users.has(username)) {
      throw new CognitoError('UsernameExistsException', `User '${username}' already exists in user pool ${this.userPoolId}.`);
    }
    if (password.length < 8) {
      throw new CognitoError('InvalidPasswordException', 'Password did not conform with policy: Password not long enough');
    }
    const salt = randomBytes(16);
    const user: StoredUser = {
      sub: sub ?? randomUUID(),
      username,
      salt,
      passwordHash: scryptSync(password, salt, SCRYPT_KEY_LENGTH),
      groups: [...groups],
      email: email ?? (username.includes('@') ? username : undefined),
    };
    this.users.set(username, user);
    return { sub: user.sub };
  }

  /** Adds an existing user to a group; the user's next tokens carry it in `cognito:groups`. */
  public addUserToGroup(username: string, group: string): void {
    const user = this.userOf(username);
    if (!user.groups.includes(group)) {
      user.groups.push(group);
    }
  }

  /**
   * Signs a user in with username and password (the USER_PASSWORD_AUTH flow). Throws
   * `NotAuthorizedException` for a wrong password or an unknown user, as a pool with
   * PreventUserExistenceErrors ENABLED does.
   */
  public initiateAuth(username: string, password: string): AuthenticationResult {
    const user = this.users.get(username);
    const candidate = scryptSync(password, user?.salt ?? randomBytes(16), SCRYPT_KEY_LENGTH);
    if (!user || !timingSafeEqual(candidate, user.passwordHash)) {
      throw new CognitoError('NotAuthorizedException', 'Incorrect username or password.');
    }
    const refreshToken = randomBytes(48).toString('base64url');
    this.refreshTokens.set(refreshToken, user.username);
    return { ...this.issueTokens(user), RefreshToken: refreshToken };
  }

  /** Issues new ID and access tokens for a refresh token from an earlier sign-in (REFRESH_TOKEN_AUTH). */
  public refresh(refreshToken: string): Omit<AuthenticationResult, 'RefreshToken'> {
    const username = this.refreshTokens.get(refreshToken);
    if (username === undefined) {
      throw new CognitoError('NotAuthorizedException', 'Invalid Refresh Token');
    }
    return this.issueTokens(this.userOf(username));
  }

  /**
   * Verifies an ID or access token: signature, key id, expiry, issuer, audience and `token_use`.
   * Returns its claims or throws a `NotAuthorizedException` that names the failed check.
   */
  public verify(token: string): TokenClaims {
    const parts = token.split('.');
    if (parts.length !== 3) {
      throw new CognitoError('NotAuthorizedException', 'Invalid JWT: the token does not have three dot-separated parts.');
    }
    const [encodedHeader, encodedPayload, signature] = parts;
    const header = parseSegment(encodedHeader, 'header');
    if (header.alg !== 'RS256' || header.kid !== this.keyId) {
      throw new CognitoError('NotAuthorizedException', `Invalid JWT: key id '${String(header.kid)}' with algorithm '${String(header.alg)}' is not a signing key of user pool ${this.userPoolId}.`);
    }
    const valid = verify('RSA-SHA256', Buffer.from(`${encodedHeader}.${encodedPayload}`), this.publicKey, Buffer.from(signature, 'base64url'));
    if (!valid) {
      throw new CognitoError('NotAuthorizedException', 'Invalid JWT: the signature does not match.');
    }
    const claims = parseSegment(encodedPayload, 'payload') as TokenClaims;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= this.clock()) {
      throw new CognitoError('NotAuthorizedException', 'Token has expired.');
    }
    if (claims.iss !== this.issuer) {
      throw new CognitoError('NotAuthorizedException', `Invalid JWT: issuer '${String(claims.iss)}' is not ${this.issuer}.`);
    }
    if (claims.token_use !== 'id' && claims.token_use !== 'access') {
      throw new CognitoError('NotAuthorizedException', `Invalid JWT: token_use '${String(claims.token_use)}' is neither 'id' nor 'access'.`);
    }
    const audience = claims.token_use === 'id' ? claims.aud : claims.client_id;
    if (audience !== this.clientId) {
      throw new CognitoError('NotAuthorizedException', `Invalid JWT: client id '${String(audience)}' is not the app client ${this.clientId}.`);
    }
    return claims;
  }

  /** Returns the pool's public signing keys as a JSON Web Key Set, as `/.well-known/jwks.json` serves it. */
  public jwks(): { keys: JsonWebKey[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: this.keyId, alg: 'RS256', use: 'sig' }] };
  }

  private issueTokens(user: StoredUser): Omit<AuthenticationResult, 'RefreshToken'> {
    const iat = Math.floor(this.clock() / 1000);
    const exp = iat + this.tokenValiditySeconds;
    const originJti = randomUUID();
    const eventId = randomUUID();
    const groups = user.groups.length > 0 ? { 'cognito:groups': [...user.groups] } : {};
    const idToken = this.sign({
      'sub': user.sub,
      ...groups,
      'email_verified': user.email !== undefined,
      'iss': this.issuer,
      'cognito:username': user.username,
      'origin_jti': originJti,
      'aud': this.clientId,
      'event_id': eventId,
      'token_use': 'id',
      'auth_time': iat,
      'exp': exp,
      'iat': iat,
      'jti': randomUUID(),
      ...(user.email !== undefined ? { email: user.email } : {}),
    });
    const accessToken = this.sign({
      sub: user.sub,
      ...groups,
      iss: this.issuer,
      client_id: this.clientId,
      origin_jti: originJti,
      event_id: eventId,
      token_use: 'access',
      scope: 'aws.cognito.signin.user.admin',
      auth_time: iat,
      exp: exp,
      iat: iat,
      jti: randomUUID(),
      username: user.username,
    });
    return { IdToken: idToken, AccessToken: accessToken, ExpiresIn: this.tokenValiditySeconds, TokenType: 'Bearer' };
  }

  private sign(claims: Record<string, unknown>): string {
    const header = Buffer.from(JSON.stringify({ kid: this.keyId, alg: 'RS256' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), this.privateKey).toString('base64url');
    return `${header}.${payload}.${signature}`;
  }

  private userOf(username: string): StoredUser {
    const user = this.users.get(username);
    if (!user) {
      throw new CognitoError('UserNotFoundException', `User '${username}' does not exist in user pool ${this.userPoolId}.`);
    }
    return user;
  }
}

function parseSegment(segment: string, name: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (value === null || typeof value !== 'object') {
      throw new Error('not an object');
    }
    return value;
  } catch {
    throw new CognitoError('NotAuthorizedException', `Invalid JWT: the ${name} is not base64url-encoded JSON.`);
  }
}
