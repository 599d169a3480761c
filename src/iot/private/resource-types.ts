/** Custom resource type of the claim certificate; its private key is written only to Secrets Manager. */
export const CLAIM_CERTIFICATE_TYPE = 'Custom::IotClaimCertificate';
/** Custom resource type of the account's ATS data endpoint lookup. */
export const DATA_ENDPOINT_TYPE = 'Custom::IotDataEndpoint';
