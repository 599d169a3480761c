#include "smarthome/sh_relay.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "smarthome/sh_log.h"

static const char *TAG = "relay";

void sh_dedup_init(sh_dedup_t *dedup)
{
    memset(dedup, 0, sizeof(*dedup));
}

bool sh_dedup_contains(const sh_dedup_t *dedup, const char *command_id)
{
    for (size_t i = 0; i < dedup->count; i++) {
        if (strcmp(dedup->ids[i], command_id) == 0) {
            return true;
        }
    }
    return false;
}

void sh_dedup_remember(sh_dedup_t *dedup, const char *command_id)
{
    if (sh_dedup_contains(dedup, command_id)) {
        return;
    }
    strncpy(dedup->ids[dedup->next], command_id, SH_COMMAND_ID_MAX_LENGTH);
    dedup->ids[dedup->next][SH_COMMAND_ID_MAX_LENGTH] = '\0';
    dedup->next = (dedup->next + 1) % SH_DEDUP_CAPACITY;
    if (dedup->count < SH_DEDUP_CAPACITY) {
        dedup->count++;
    }
}

sh_status_t sh_relay_controller_init(sh_relay_controller_t *controller, const sh_relay_descriptor_t *relays,
                                     size_t relay_count, const sh_relay_port_t *port)
{
    if (controller == NULL || port == NULL || port->set == NULL || relay_count > SH_MAX_RELAYS ||
        (relay_count > 0 && relays == NULL)) {
        return SH_ERR_INVALID_ARG;
    }
    memset(controller, 0, sizeof(*controller));
    controller->relays = relays;
    controller->relay_count = relay_count;
    controller->port = port;
    sh_dedup_init(&controller->dedup);

    /* Outputs start off after every boot; the device reports this state after connecting. */
    for (size_t i = 0; i < relay_count; i++) {
        if (!sh_is_valid_id(relays[i].id, 1, SH_ID_MAX_LENGTH)) {
            return SH_ERR_INVALID_ARG;
        }
        controller->states[i] = SH_RELAY_OFF;
        sh_status_t status = port->set(port->ctx, i, false);
        if (status != SH_OK) {
            SH_LOGE(TAG, "failed to switch %s off at boot: %s", relays[i].id, sh_status_name(status));
            return status;
        }
    }
    return SH_OK;
}

int sh_relay_controller_find(const sh_relay_controller_t *controller, const char *relay_id)
{
    for (size_t i = 0; i < controller->relay_count; i++) {
        if (strcmp(controller->relays[i].id, relay_id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void set_reason(sh_relay_outcome_t *outcome, const char *reason)
{
    strncpy(outcome->reason, reason, SH_REASON_MAX_LENGTH);
    outcome->reason[SH_REASON_MAX_LENGTH] = '\0';
}

sh_status_t sh_relay_controller_handle_command(sh_relay_controller_t *controller, const char *payload,
                                               size_t length, const uint64_t *now_ms, sh_relay_outcome_t *outcome)
{
    if (controller == NULL || outcome == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(outcome, 0, sizeof(*outcome));

    sh_relay_command_t command;
    const char *error = NULL;
    sh_status_t parse_status = sh_relay_command_parse(payload, length, &command, &error);
    int index = command.has_relay ? sh_relay_controller_find(controller, command.relay) : -1;

    if (command.has_command_id) {
        memcpy(outcome->command_id, command.command_id, sizeof(outcome->command_id));
    }
    if (index >= 0) {
        memcpy(outcome->relay, command.relay, sizeof(outcome->relay));
        outcome->state = controller->states[index];
    }

    if (parse_status != SH_OK) {
        outcome->acknowledge = command.has_command_id && index >= 0;
        outcome->result = SH_RELAY_RESULT_REJECTED;
        set_reason(outcome, error != NULL ? error : "invalid command");
        SH_LOGW(TAG, "command rejected command=%s reason=%s", command.has_command_id ? command.command_id : "-",
                outcome->reason);
        return SH_OK;
    }
    if (index < 0) {
        outcome->acknowledge = false;
        outcome->result = SH_RELAY_RESULT_REJECTED;
        set_reason(outcome, "unknown relay");
        SH_LOGW(TAG, "command rejected command=%s reason=unknown relay %s", command.command_id, command.relay);
        return SH_OK;
    }

    outcome->acknowledge = true;
    if (sh_dedup_contains(&controller->dedup, command.command_id)) {
        outcome->result = SH_RELAY_RESULT_DUPLICATE;
        SH_LOGI(TAG, "%s %s command=%s result=DUPLICATE", command.relay, sh_relay_state_name(outcome->state),
                command.command_id);
        return SH_OK;
    }
    if (now_ms == NULL) {
        outcome->result = SH_RELAY_RESULT_REJECTED;
        set_reason(outcome, "device clock is not synchronized, so expiresAt cannot be checked");
        SH_LOGW(TAG, "%s command=%s result=REJECTED reason=clock not set", command.relay, command.command_id);
        return SH_OK;
    }
    if (command.expires_at_ms <= *now_ms) {
        outcome->result = SH_RELAY_RESULT_EXPIRED;
        snprintf(outcome->reason, sizeof(outcome->reason), "expiresAt %" PRIu64 " is in the past",
                 command.expires_at_ms);
        SH_LOGI(TAG, "%s %s command=%s result=EXPIRED", command.relay, sh_relay_state_name(outcome->state),
                command.command_id);
        return SH_OK;
    }

    sh_status_t status = controller->port->set(controller->port->ctx, (size_t)index, command.state == SH_RELAY_ON);
    if (status != SH_OK) {
        outcome->result = SH_RELAY_RESULT_REJECTED;
        set_reason(outcome, "relay output failed to switch");
        SH_LOGE(TAG, "%s command=%s result=REJECTED reason=output failed: %s", command.relay, command.command_id,
                sh_status_name(status));
        return SH_OK;
    }
    controller->states[index] = command.state;
    outcome->state = command.state;
    outcome->result = SH_RELAY_RESULT_APPLIED;
    sh_dedup_remember(&controller->dedup, command.command_id);
    SH_LOGI(TAG, "%s %s command=%s result=APPLIED", command.relay, sh_relay_state_name(command.state),
            command.command_id);
    return SH_OK;
}
