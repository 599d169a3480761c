/* Private: storage keys of the core. NVS limits keys to 15 characters. */
#ifndef SH_STORAGE_KEYS_H
#define SH_STORAGE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_ports.h"

#define SH_KEY_PROVISIONING_STATE "prov_state"  /* one byte, sh_provisioning_state_t */
#define SH_KEY_PRIVATE_KEY "prov_key"           /* PEM private key of the device identity */
#define SH_KEY_CERTIFICATE "prov_cert"          /* PEM certificate of the device identity */
#define SH_KEY_CERTIFICATE_ID "prov_cert_id"
#define SH_KEY_OWNERSHIP_TOKEN "prov_token"
#define SH_KEY_TOKEN_RECEIVED_AT "prov_token_ms" /* epoch ms as 8 bytes little-endian, 0 if unknown */
#define SH_KEY_PROVISIONING_ATTEMPT "prov_attempt" /* failures since the last success, 4 bytes */
#define SH_KEY_THING_NAME "thing_name"
#define SH_KEY_CLAIM_TOKEN "claim_token"        /* owner's auto-discovery claim token */
#define SH_KEY_OTA_RECORD "ota_job"             /* JSON {"jobId","version"} of an update awaiting its result */

/** Reads a string value and NUL-terminates it. */
sh_status_t sh_storage_read_string(const sh_storage_t *storage, const char *key, char *buffer, size_t capacity);
sh_status_t sh_storage_write_string(const sh_storage_t *storage, const char *key, const char *value);
sh_status_t sh_storage_read_u64(const sh_storage_t *storage, const char *key, uint64_t *value);
sh_status_t sh_storage_write_u64(const sh_storage_t *storage, const char *key, uint64_t value);

#endif /* SH_STORAGE_KEYS_H */
