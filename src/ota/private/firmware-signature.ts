import { createHash, createVerify, KeyObject } from 'node:crypto';
import { FirmwareImageInvalidError, FirmwareSignatureInvalidError } from './errors';

/**
 * Largest signature object that the workflow reads, in bytes. A base64 DER ECDSA P-256
 * signature has at most 96 characters; the rest allows for line breaks and whitespace.
 */
export const MAX_SIGNATURE_OBJECT_BYTES = 1024;

/** Texts that stand in for a signature that was never made, compared after trimming. */
const PLACEHOLDER_PATTERN = /^(todo|tbd|fixme|placeholder|unsigned|signature|none|null|n\/a|x+|0+|-+|\*+)$/i;
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
/** Shortest signature text that the job document schema allows. */
const MIN_SIGNATURE_LENGTH = 8;
/** Order n of the P-256 base point; r and s of a signature lie in [1, n - 1]. */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** Digest and size of a streamed image, and whether its signature verified. */
export interface ImageCheck {
  readonly size: number;
  /** SHA-256 of the image, lowercase hex. */
  readonly sha256: string;
  readonly signatureVerified: boolean;
}

/**
 * Decodes the text of a signature object (base64 of a DER ECDSA signature, surrounding
 * whitespace allowed) and checks its DER structure. Throws FirmwareSignatureInvalidError for
 * empty, placeholder and malformed signatures, with the fix in the message.
 */
export function decodeSignature(text: string, signatureKey: string): Buffer {
  const trimmed = text.trim();
  if (trimmed === '') {
    throw new FirmwareSignatureInvalidError(`Signature object '${signatureKey}' is empty; upload the base64 DER ECDSA P-256 signature of the image's SHA-256 digest.`);
  }
  if (PLACEHOLDER_PATTERN.test(trimmed) || trimmed.length < MIN_SIGNATURE_LENGTH) {
    throw new FirmwareSignatureInvalidError(`Signature object '${signatureKey}' contains the placeholder ${JSON.stringify(trimmed)} instead of a signature; sign the image and upload the base64 DER signature.`);
  }
  if (!BASE64_PATTERN.test(trimmed) || trimmed.length % 4 !== 0) {
    throw new FirmwareSignatureInvalidError(`Signature object '${signatureKey}' is not base64 text; upload the DER signature base64-encoded, for example with 'base64 -w0 firmware.sig'.`);
  }
  const der = Buffer.from(trimmed, 'base64');
  const problem = derSignatureProblem(der);
  if (problem) {
    throw new FirmwareSignatureInvalidError(`Signature object '${signatureKey}' is not a DER ECDSA P-256 signature: ${problem}.`);
  }
  return der;
}

/**
 * Streams an image once, computing its SHA-256 digest and size and verifying its ECDSA P-256
 * signature, which covers the SHA-256 digest of the image: the value that `openssl dgst -sha256
 * -sign` and KMS Sign with `MessageType DIGEST` over that digest sign, and that the firmware
 * checks. Throws FirmwareImageInvalidError as soon as the image exceeds `maxBytes`, and for an
 * empty image.
 */
export async function checkImage(
  body: AsyncIterable<Uint8Array>,
  publicKey: KeyObject,
  signature: Buffer,
  maxBytes: number,
  imageKey: string,
): Promise<ImageCheck> {
  const hash = createHash('sha256');
  const verifier = createVerify('sha256');
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new FirmwareImageInvalidError(`Firmware image '${imageKey}' is larger than ${maxBytes} bytes, the largest image that the OTA job document allows.`);
    }
    hash.update(chunk);
    verifier.update(chunk);
  }
  if (size === 0) {
    throw new FirmwareImageInvalidError(`Firmware image '${imageKey}' is empty; upload the built image.`);
  }
  const signatureVerified = verifier.verify({ key: publicKey, dsaEncoding: 'der' }, signature);
  return { size, sha256: hash.digest('hex'), signatureVerified };
}

/** Reads a stream into a buffer, failing once it exceeds `maxBytes` so that no more is read. */
export async function readLimited(body: AsyncIterable<Uint8Array>, maxBytes: number, describe: () => Error): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      throw describe();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Returns why bytes are not a DER `SEQUENCE { INTEGER r, INTEGER s }` with r and s in
 * [1, n - 1] of P-256, or undefined when they are. Lengths fit in one byte, because a P-256
 * signature has at most 72 bytes.
 */
export function derSignatureProblem(der: Buffer): string | undefined {
  if (der.length < 8 || der.length > 72) {
    return `it has ${der.length} bytes, but a P-256 signature has 8 to 72`;
  }
  if (der[0] !== 0x30 || der[1] !== der.length - 2) {
    return 'it does not start with a DER SEQUENCE that spans the whole signature';
  }
  let offset = 2;
  for (const name of ['r', 's']) {
    if (der[offset] !== 0x02) {
      return `${name} is not a DER INTEGER`;
    }
    const length = der[offset + 1];
    const start = offset + 2;
    if (length === undefined || length < 1 || length > 33 || start + length > der.length) {
      return `the length of ${name} is invalid`;
    }
    const bytes = der.subarray(start, start + length);
    // A first byte of 0x80 or more sets the sign bit of a DER INTEGER.
    if (bytes[0] >= 0x80) {
      return `${name} is negative`;
    }
    if (length > 1 && bytes[0] === 0 && bytes[1] < 0x80) {
      return `${name} has a superfluous leading zero`;
    }
    const value = BigInt(`0x${bytes.toString('hex')}`);
    if (value === 0n || value >= P256_ORDER) {
      return `${name} is outside [1, n - 1] of P-256`;
    }
    offset = start + length;
  }
  if (offset !== der.length) {
    return 'it has bytes after s';
  }
  return undefined;
}
