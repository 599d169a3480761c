#include "smarthome/sh_status.h"

const char *sh_status_name(sh_status_t status)
{
    switch (status) {
    case SH_OK: return "SH_OK";
    case SH_ERR_INVALID_ARG: return "SH_ERR_INVALID_ARG";
    case SH_ERR_INVALID_MESSAGE: return "SH_ERR_INVALID_MESSAGE";
    case SH_ERR_TOO_LARGE: return "SH_ERR_TOO_LARGE";
    case SH_ERR_BUFFER_TOO_SMALL: return "SH_ERR_BUFFER_TOO_SMALL";
    case SH_ERR_NO_MEMORY: return "SH_ERR_NO_MEMORY";
    case SH_ERR_NOT_FOUND: return "SH_ERR_NOT_FOUND";
    case SH_ERR_STORAGE: return "SH_ERR_STORAGE";
    case SH_ERR_TRANSPORT: return "SH_ERR_TRANSPORT";
    case SH_ERR_CRYPTO: return "SH_ERR_CRYPTO";
    case SH_ERR_VERIFICATION: return "SH_ERR_VERIFICATION";
    case SH_ERR_CLOCK_NOT_SET: return "SH_ERR_CLOCK_NOT_SET";
    case SH_ERR_INVALID_STATE: return "SH_ERR_INVALID_STATE";
    case SH_ERR_OTA: return "SH_ERR_OTA";
    case SH_ERR_UNAVAILABLE: return "SH_ERR_UNAVAILABLE";
    case SH_ERR_TIMEOUT: return "SH_ERR_TIMEOUT";
    case SH_ERR_NOT_SUPPORTED: return "SH_ERR_NOT_SUPPORTED";
    }
    return "SH_ERR_UNKNOWN";
}
