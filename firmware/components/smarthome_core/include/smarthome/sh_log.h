/*
 * Logging macros of the core. Each module passes a short tag ("provision", "relay", "ota"), and
 * the port maps sh_log_write() to its logger: ESP_LOG on the ESP32, stdout on POSIX.
 */
#ifndef SH_LOG_H
#define SH_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/** Severity of a log line, in the order used by ESP-IDF. */
typedef enum {
    SH_LOG_ERROR = 1,
    SH_LOG_WARN = 2,
    SH_LOG_INFO = 3,
    SH_LOG_DEBUG = 4,
} sh_log_level_t;

/**
 * Writes one log line. Each port provides exactly one definition. The message carries no
 * trailing newline.
 */
void sh_log_write(sh_log_level_t level, const char *tag, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define SH_LOGE(tag, ...) sh_log_write(SH_LOG_ERROR, (tag), __VA_ARGS__)
#define SH_LOGW(tag, ...) sh_log_write(SH_LOG_WARN, (tag), __VA_ARGS__)
#define SH_LOGI(tag, ...) sh_log_write(SH_LOG_INFO, (tag), __VA_ARGS__)
#define SH_LOGD(tag, ...) sh_log_write(SH_LOG_DEBUG, (tag), __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* SH_LOG_H */
