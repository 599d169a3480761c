/*
 * Status codes returned by every fallible function of the smart-home core and its ports.
 */
#ifndef SH_STATUS_H
#define SH_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/** Result of a core or port operation. Functions return it instead of aborting. */
typedef enum {
    /** The operation succeeded. */
    SH_OK = 0,
    /** An argument was NULL, out of range or otherwise unusable by the callee. */
    SH_ERR_INVALID_ARG,
    /** A received message is not valid JSON or does not match its contract schema. */
    SH_ERR_INVALID_MESSAGE,
    /** A received message is larger than the limit for its type, so it was not parsed. */
    SH_ERR_TOO_LARGE,
    /** An output buffer is too small for the result. */
    SH_ERR_BUFFER_TOO_SMALL,
    /** A memory allocation failed. */
    SH_ERR_NO_MEMORY,
    /** The requested storage key or resource does not exist. */
    SH_ERR_NOT_FOUND,
    /** Persistent storage failed to read or write. */
    SH_ERR_STORAGE,
    /** The MQTT transport failed to connect, subscribe or publish. */
    SH_ERR_TRANSPORT,
    /** A cryptographic operation (key generation, CSR, hash) failed. */
    SH_ERR_CRYPTO,
    /** A signature or digest did not match the expected value. */
    SH_ERR_VERIFICATION,
    /** The wall clock is not synchronized, so a time-based check cannot run. */
    SH_ERR_CLOCK_NOT_SET,
    /** The operation is not allowed in the current state. */
    SH_ERR_INVALID_STATE,
    /** A download or OTA slot operation failed. */
    SH_ERR_OTA,
    /** A sensor has no reading right now. */
    SH_ERR_UNAVAILABLE,
    /** A deadline passed before the expected event. */
    SH_ERR_TIMEOUT,
    /** The feature is not supported by this port. */
    SH_ERR_NOT_SUPPORTED,
} sh_status_t;

/** Returns a stable upper-case name for a status, for example "SH_ERR_TOO_LARGE". */
const char *sh_status_name(sh_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* SH_STATUS_H */
