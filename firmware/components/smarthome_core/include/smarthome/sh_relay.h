/*
 * Relay controller: validates relay commands, drops redeliveries by commandId with a bounded ring
 * of recent ids, drops expired commands, switches the outputs and describes the acknowledgement.
 */
#ifndef SH_RELAY_H
#define SH_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smarthome/sh_config.h"
#include "smarthome/sh_messages.h"
#include "smarthome/sh_ports.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Ring of the SH_DEDUP_CAPACITY most recently applied command ids. The oldest id is evicted first. */
typedef struct {
    char ids[SH_DEDUP_CAPACITY][SH_COMMAND_ID_MAX_LENGTH + 1];
    size_t next;
    size_t count;
} sh_dedup_t;

void sh_dedup_init(sh_dedup_t *dedup);
bool sh_dedup_contains(const sh_dedup_t *dedup, const char *command_id);
/** Records command_id, evicting the oldest id when the ring is full. */
void sh_dedup_remember(sh_dedup_t *dedup, const char *command_id);

/** Relay outputs and their current states. */
typedef struct {
    const sh_relay_descriptor_t *relays;
    size_t relay_count;
    sh_relay_state_t states[SH_MAX_RELAYS];
    sh_dedup_t dedup;
    const sh_relay_port_t *port;
} sh_relay_controller_t;

/** Result of handling one command: what to publish on iot/status/<thing>/relay, if anything. */
typedef struct {
    /**
     * False when the command cannot be acknowledged, because its commandId is invalid or its
     * relay is unknown: relay-status requires a valid commandId and the state of a real relay.
     */
    bool acknowledge;
    sh_relay_result_t result;
    char command_id[SH_COMMAND_ID_MAX_LENGTH + 1];
    char relay[SH_ID_MAX_LENGTH + 1];
    sh_relay_state_t state;
    char reason[SH_REASON_MAX_LENGTH + 1];
} sh_relay_outcome_t;

/** Initializes the controller and switches every relay off through the port. */
sh_status_t sh_relay_controller_init(sh_relay_controller_t *controller, const sh_relay_descriptor_t *relays,
                                     size_t relay_count, const sh_relay_port_t *port);

/**
 * Handles one relay-command payload. now_ms is the wall clock, or NULL when it is not set, in
 * which case expiry cannot be checked and the command is rejected. Returns SH_OK when the
 * outcome is valid (even for REJECTED), or the error that prevented switching.
 */
sh_status_t sh_relay_controller_handle_command(sh_relay_controller_t *controller, const char *payload,
                                               size_t length, const uint64_t *now_ms, sh_relay_outcome_t *outcome);

/** Returns the index of relay id, or -1. */
int sh_relay_controller_find(const sh_relay_controller_t *controller, const char *relay_id);

#ifdef __cplusplus
}
#endif

#endif /* SH_RELAY_H */
