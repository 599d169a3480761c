/**
 * The client side of Cognito's USER_SRP_AUTH flow (SRP-6a over the 3072-bit MODP group of
 * RFC 3526 with SHA-256), which the platform's app client requires. The password never leaves
 * the browser: the client proves it with the PASSWORD_VERIFIER challenge response.
 */

/** The 3072-bit prime of RFC 3526 (MODP group 15), with generator 2. */
export const N = BigInt('0x'
  + 'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD'
  + 'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
  + 'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F'
  + '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B'
  + 'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510'
  + '15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7'
  + 'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C'
  + 'BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF');
export const g = 2n;
const DERIVED_KEY_INFO = 'Caldera Derived Key';
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function modPow(base, exponent, modulus) {
  let result = 1n;
  let factor = ((base % modulus) + modulus) % modulus;
  let remaining = exponent;
  while (remaining > 0n) {
    if (remaining & 1n) result = (result * factor) % modulus;
    factor = (factor * factor) % modulus;
    remaining >>= 1n;
  }
  return result;
}

/** Hex of a positive integer with an even number of digits and a leading 00 when the top bit is set, as Cognito hashes it. */
export function padHex(value) {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if ('89abcdef'.includes(hex[0])) hex = `00${hex}`;
  return hex;
}

export function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index += 1) bytes[index] = parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  return bytes;
}

function bytesToHex(bytes) {
  return [...new Uint8Array(bytes)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

async function hmacSha256(key, message) {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, message));
}

/** HKDF with HMAC-SHA-256 (RFC 5869). */
export async function hkdf(inputKey, salt, info, length) {
  const pseudoRandomKey = await hmacSha256(salt, inputKey);
  const output = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let block = 1, offset = 0; offset < length; block += 1) {
    previous = await hmacSha256(pseudoRandomKey, concat(previous, info, new Uint8Array([block])));
    output.set(previous.slice(0, length - offset), offset);
    offset += previous.length;
  }
  return output;
}

function concat(...parts) {
  const output = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    output.set(part, offset);
    offset += part.length;
  }
  return output;
}

async function hashHex(hex) {
  return BigInt(`0x${bytesToHex(await sha256(hexToBytes(hex)))}`);
}

/** Returns the multiplier k = H(N | g). */
export async function multiplier() {
  return hashHex(padHex(N) + padHex(g));
}

/** Returns the private value x = H(salt | H(poolName | userId | ':' | password)). */
export async function privateValue(poolName, userId, password, salt) {
  const credentialsHash = bytesToHex(await sha256(new TextEncoder().encode(`${poolName}${userId}:${password}`)));
  return hashHex(padHex(salt) + credentialsHash);
}

/** Creates the client's ephemeral secret `a` and public value `A = g^a mod N`. */
export function createEphemeral() {
  for (;;) {
    const a = BigInt(`0x${bytesToHex(crypto.getRandomValues(new Uint8Array(128)))}`) % N;
    const A = modPow(g, a, N);
    if (a !== 0n && A % N !== 0n) return { a, A };
  }
}

/** Returns the premaster secret S = (B - k * g^x)^(a + u * x) mod N and the scrambler u. */
export async function clientSecret({ a, A, B, x }) {
  if (B % N === 0n) throw new Error('Invalid SRP_B from Cognito: it is 0 modulo N.');
  const u = await hashHex(padHex(A) + padHex(B));
  if (u === 0n) throw new Error('Invalid SRP_B from Cognito: the scrambler u is 0.');
  const k = await multiplier();
  const base = (((B - k * modPow(g, x, N)) % N) + N) % N;
  return { S: modPow(base, a + u * x, N), u };
}

/** Formats a time as Cognito expects in TIMESTAMP, such as `Sat Dec 5 00:34:37 UTC 2026`. */
export function cognitoTimestamp(date) {
  const time = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map((part) => String(part).padStart(2, '0')).join(':');
  return `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} ${time} UTC ${date.getUTCFullYear()}`;
}

/**
 * Computes the ChallengeResponses of the PASSWORD_VERIFIER challenge from its ChallengeParameters
 * (SALT, SRP_B, SECRET_BLOCK, USER_ID_FOR_SRP) and the ephemeral values of the InitiateAuth call.
 */
export async function passwordVerifierResponses({ userPoolId, password, parameters, ephemeral, now = new Date() }) {
  const poolName = userPoolId.split('_')[1];
  if (!poolName) throw new Error(`Invalid userPoolId '${userPoolId}': expected REGION_ID, such as eu-central-1_AbCdEf123.`);
  const userId = parameters.USER_ID_FOR_SRP;
  const x = await privateValue(poolName, userId, password, BigInt(`0x${parameters.SALT}`));
  const { S, u } = await clientSecret({ a: ephemeral.a, A: ephemeral.A, B: BigInt(`0x${parameters.SRP_B}`), x });
  const key = await hkdf(hexToBytes(padHex(S)), hexToBytes(padHex(u)), new TextEncoder().encode(DERIVED_KEY_INFO), 16);
  const timestamp = cognitoTimestamp(now);
  const secretBlock = Uint8Array.from(atob(parameters.SECRET_BLOCK), (char) => char.charCodeAt(0));
  const encoder = new TextEncoder();
  const signature = await hmacSha256(key, concat(encoder.encode(poolName), encoder.encode(userId), secretBlock, encoder.encode(timestamp)));
  return {
    USERNAME: userId,
    PASSWORD_CLAIM_SECRET_BLOCK: parameters.SECRET_BLOCK,
    PASSWORD_CLAIM_SIGNATURE: btoa(String.fromCharCode(...signature)),
    TIMESTAMP: timestamp,
  };
}
