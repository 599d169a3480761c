/**
 * Sign-in with the Cognito user pools API (InitiateAuth with USER_SRP_AUTH or USER_PASSWORD_AUTH,
 * as config.authFlow selects), token refresh (REFRESH_TOKEN_AUTH) and the session in
 * sessionStorage, which the browser clears when the tab closes.
 */
import { createEphemeral, passwordVerifierResponses } from './srp.js';

const STORAGE_KEY = 'smart-home-dashboard.session';
/** Tokens this close to expiry are refreshed before use, in milliseconds. */
const EXPIRY_MARGIN_MS = 60_000;

export class AuthError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

export class Auth {
  constructor(config, storage = globalThis.sessionStorage) {
    this.config = config;
    this.storage = storage;
    this.session = readSession(storage);
  }

  get signedIn() {
    return this.session !== undefined;
  }

  /** Name of the signed-in user, from the ID token's `cognito:username` claim. */
  get username() {
    return this.session?.username;
  }

  async signIn(username, password) {
    let result;
    if (this.config.authFlow === 'USER_SRP_AUTH') {
      const ephemeral = createEphemeral();
      const challenge = await this.call('InitiateAuth', {
        AuthFlow: 'USER_SRP_AUTH',
        ClientId: this.config.userPoolClientId,
        AuthParameters: { USERNAME: username, SRP_A: ephemeral.A.toString(16) },
      });
      if (challenge.ChallengeName !== 'PASSWORD_VERIFIER') {
        throw unsupportedChallenge(username, challenge.ChallengeName);
      }
      result = await this.call('RespondToAuthChallenge', {
        ChallengeName: 'PASSWORD_VERIFIER',
        ClientId: this.config.userPoolClientId,
        ChallengeResponses: await passwordVerifierResponses({ userPoolId: this.config.userPoolId, password, parameters: challenge.ChallengeParameters, ephemeral }),
      });
    } else {
      result = await this.initiateAuth('USER_PASSWORD_AUTH', { USERNAME: username, PASSWORD: password });
    }
    if (result.ChallengeName) {
      throw unsupportedChallenge(username, result.ChallengeName);
    }
    this.store(result.AuthenticationResult, undefined);
    return this.username;
  }

  signOut() {
    this.session = undefined;
    this.storage.removeItem(STORAGE_KEY);
  }

  /** Returns a valid ID token, refreshing it when it expires within a minute. */
  async idToken() {
    if (!this.session) {
      throw new AuthError('Not signed in.', 'NotSignedIn');
    }
    if (this.session.expiresAt - Date.now() > EXPIRY_MARGIN_MS) {
      return this.session.idToken;
    }
    if (!this.session.refreshToken) {
      this.signOut();
      throw new AuthError('The session expired. Sign in again.', 'SessionExpired');
    }
    try {
      const result = await this.initiateAuth('REFRESH_TOKEN_AUTH', { REFRESH_TOKEN: this.session.refreshToken });
      this.store(result.AuthenticationResult, this.session.refreshToken);
    } catch (error) {
      this.signOut();
      throw new AuthError(`The session could not be refreshed (${error.message}). Sign in again.`, 'SessionExpired');
    }
    return this.session.idToken;
  }

  initiateAuth(flow, parameters) {
    return this.call('InitiateAuth', { AuthFlow: flow, ClientId: this.config.userPoolClientId, AuthParameters: parameters });
  }

  /** Calls an operation of the Cognito user pools JSON API and returns its response body. */
  async call(operation, input) {
    const response = await fetch(this.config.cognitoUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
      },
      body: JSON.stringify(input),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = String(body.__type ?? `HTTP ${response.status}`).split('#').pop();
      throw new AuthError(body.message ? `${code}: ${body.message}` : `${operation} failed with ${code}.`, code);
    }
    return body;
  }

  store(result, previousRefreshToken) {
    if (!result?.IdToken) {
      throw new AuthError('The sign-in response has no ID token.', 'InvalidResponse');
    }
    const claims = decodeJwtPayload(result.IdToken);
    this.session = {
      idToken: result.IdToken,
      refreshToken: result.RefreshToken ?? previousRefreshToken,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + (result.ExpiresIn ?? 3600) * 1000,
      username: String(claims['cognito:username'] ?? claims.sub ?? ''),
    };
    this.storage.setItem(STORAGE_KEY, JSON.stringify(this.session));
  }
}

function unsupportedChallenge(username, challengeName) {
  return new AuthError(`Sign-in of ${username} needs the ${challengeName} challenge, which this dashboard does not support. Complete it with the AWS CLI or the Cognito console first.`, challengeName);
}

function readSession(storage) {
  try {
    const session = JSON.parse(storage.getItem(STORAGE_KEY) ?? 'null');
    return session && typeof session.idToken === 'string' ? session : undefined;
  } catch {
    return undefined;
  }
}

function decodeJwtPayload(token) {
  const part = token.split('.')[1] ?? '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  try {
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}
