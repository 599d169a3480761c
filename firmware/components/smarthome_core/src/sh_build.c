/* Builders of device-to-cloud documents. Inputs are checked against contract/schemas first. */
#include <math.h>
#include <string.h>

#include "sh_json_util.h"
#include "smarthome/sh_messages.h"

static bool is_valid_text(const char *value, size_t min_length, size_t max_length)
{
    if (value == NULL) {
        return false;
    }
    size_t length = strlen(value);
    return length >= min_length && length <= max_length;
}

static bool add_optional_text(cJSON *object, const char *key, const char *value, size_t min_length,
                              size_t max_length)
{
    if (value == NULL) {
        return true;
    }
    if (!is_valid_text(value, min_length, max_length)) {
        return false;
    }
    return cJSON_AddStringToObject(object, key, value) != NULL;
}

static bool add_range(cJSON *object, bool has_range, double min, double max)
{
    if (!has_range) {
        return true;
    }
    if (!isfinite(min) || !isfinite(max) || min > max) {
        return false;
    }
    return cJSON_AddNumberToObject(object, "min", min) != NULL && cJSON_AddNumberToObject(object, "max", max) != NULL;
}

/* Finishes a builder: prints on success, maps a NULL root to SH_ERR_NO_MEMORY. */
static sh_status_t finish(cJSON *root, bool valid, char *buffer, size_t capacity, size_t *length)
{
    sh_status_t status;
    if (root == NULL) {
        status = SH_ERR_NO_MEMORY;
    } else if (!valid) {
        status = SH_ERR_INVALID_ARG;
    } else {
        status = sh_json_print(root, buffer, capacity, length);
    }
    cJSON_Delete(root);
    return status;
}

static bool add_relays(cJSON *root, const sh_capabilities_t *capabilities)
{
    if (capabilities->relay_count > SH_MAX_RELAYS || (capabilities->relay_count > 0 && capabilities->relays == NULL)) {
        return false;
    }
    cJSON *relays = cJSON_AddArrayToObject(root, "relays");
    if (relays == NULL) {
        return false;
    }
    for (size_t i = 0; i < capabilities->relay_count; i++) {
        const sh_relay_descriptor_t *relay = &capabilities->relays[i];
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(relays, item)) {
            cJSON_Delete(item);
            return false;
        }
        if (!sh_is_valid_id(relay->id, 1, SH_ID_MAX_LENGTH) || cJSON_AddStringToObject(item, "id", relay->id) == NULL ||
            !add_optional_text(item, "name", relay->name, 1, SH_NAME_MAX_LENGTH)) {
            return false;
        }
        if (relay->max_current_a != 0.0) {
            if (!(relay->max_current_a > 0.0 && relay->max_current_a <= 100.0) ||
                cJSON_AddNumberToObject(item, "maxCurrentA", relay->max_current_a) == NULL) {
                return false;
            }
        }
    }
    return true;
}

static bool add_sensors(cJSON *root, const sh_capabilities_t *capabilities)
{
    if (capabilities->sensor_count > SH_MAX_SENSORS ||
        (capabilities->sensor_count > 0 && capabilities->sensors == NULL)) {
        return false;
    }
    cJSON *sensors = cJSON_AddArrayToObject(root, "sensors");
    if (sensors == NULL) {
        return false;
    }
    for (size_t i = 0; i < capabilities->sensor_count; i++) {
        const sh_sensor_descriptor_t *sensor = &capabilities->sensors[i];
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(sensors, item)) {
            cJSON_Delete(item);
            return false;
        }
        if (!sh_is_valid_id(sensor->id, 1, SH_ID_MAX_LENGTH) || !sh_is_valid_type(sensor->type) ||
            cJSON_AddStringToObject(item, "id", sensor->id) == NULL ||
            cJSON_AddStringToObject(item, "type", sensor->type) == NULL ||
            !add_optional_text(item, "name", sensor->name, 1, SH_NAME_MAX_LENGTH) ||
            !add_optional_text(item, "unit", sensor->unit, 0, SH_UNIT_MAX_LENGTH) ||
            !add_range(item, sensor->has_range, sensor->min, sensor->max)) {
            return false;
        }
        if (sensor->cumulative && cJSON_AddTrueToObject(item, "cumulative") == NULL) {
            return false;
        }
    }
    return true;
}

static bool add_settings(cJSON *root, const sh_capabilities_t *capabilities)
{
    if (capabilities->setting_count == 0) {
        return true; /* settings is optional */
    }
    if (capabilities->setting_count > SH_MAX_SETTINGS || capabilities->settings == NULL) {
        return false;
    }
    cJSON *settings = cJSON_AddArrayToObject(root, "settings");
    if (settings == NULL) {
        return false;
    }
    for (size_t i = 0; i < capabilities->setting_count; i++) {
        const sh_setting_descriptor_t *setting = &capabilities->settings[i];
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(settings, item)) {
            cJSON_Delete(item);
            return false;
        }
        if (!sh_is_valid_id(setting->id, 1, SH_ID_MAX_LENGTH) || !sh_is_valid_type(setting->type) ||
            cJSON_AddStringToObject(item, "id", setting->id) == NULL ||
            cJSON_AddStringToObject(item, "type", setting->type) == NULL ||
            !add_optional_text(item, "name", setting->name, 1, SH_NAME_MAX_LENGTH) ||
            !add_optional_text(item, "unit", setting->unit, 0, SH_UNIT_MAX_LENGTH) ||
            !add_range(item, setting->has_range, setting->min, setting->max)) {
            return false;
        }
        if (setting->step != 0.0 &&
            (!(setting->step > 0.0 && isfinite(setting->step)) ||
             cJSON_AddNumberToObject(item, "step", setting->step) == NULL)) {
            return false;
        }
    }
    return true;
}

sh_status_t sh_capabilities_build(const sh_capabilities_t *capabilities, char *buffer, size_t capacity,
                                  size_t *length)
{
    if (capabilities == NULL || buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = sh_is_valid_model(capabilities->model) && sh_is_valid_version(capabilities->firmware_version) &&
                 capabilities->timestamp_ms <= SH_EPOCH_MS_MAX &&
                 (capabilities->claim_token == NULL || sh_is_valid_claim_token(capabilities->claim_token));
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        valid = cJSON_AddNumberToObject(root, "schemaVersion", 1) != NULL &&
                cJSON_AddStringToObject(root, "model", capabilities->model) != NULL &&
                cJSON_AddStringToObject(root, "firmwareVersion", capabilities->firmware_version) != NULL &&
                sh_json_add_uint(root, "timestamp", capabilities->timestamp_ms) && add_relays(root, capabilities) &&
                add_sensors(root, capabilities) && add_settings(root, capabilities) &&
                (capabilities->claim_token == NULL ||
                 cJSON_AddStringToObject(root, "claimToken", capabilities->claim_token) != NULL);
    }
    return finish(root, valid, buffer, capacity, length);
}

sh_status_t sh_relay_status_build(const sh_relay_status_t *status, char *buffer, size_t capacity, size_t *length)
{
    if (status == NULL || buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = sh_is_valid_id(status->relay, 1, SH_ID_MAX_LENGTH) && status->timestamp_ms <= SH_EPOCH_MS_MAX &&
                 (status->command_id == NULL ||
                  sh_is_valid_id(status->command_id, SH_COMMAND_ID_MIN_LENGTH, SH_COMMAND_ID_MAX_LENGTH));
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        valid = cJSON_AddStringToObject(root, "relay", status->relay) != NULL &&
                cJSON_AddStringToObject(root, "state", sh_relay_state_name(status->state)) != NULL &&
                sh_json_add_uint(root, "timestamp", status->timestamp_ms);
        /* commandId and result always appear together (schema "dependencies"). */
        if (valid && status->command_id != NULL) {
            valid = cJSON_AddStringToObject(root, "commandId", status->command_id) != NULL &&
                    cJSON_AddStringToObject(root, "result", sh_relay_result_name(status->result)) != NULL;
            if (valid && status->reason != NULL) {
                char reason[SH_REASON_MAX_LENGTH + 1];
                strncpy(reason, status->reason, SH_REASON_MAX_LENGTH);
                reason[SH_REASON_MAX_LENGTH] = '\0';
                valid = cJSON_AddStringToObject(root, "reason", reason) != NULL;
            }
        }
    }
    return finish(root, valid, buffer, capacity, length);
}

static cJSON *create_reading(sh_reading_t reading)
{
    if (reading.present && isfinite(reading.value)) {
        return cJSON_CreateNumber(reading.value);
    }
    return cJSON_CreateNull();
}

sh_status_t sh_telemetry_build(uint64_t timestamp_ms, uint32_t seq, const sh_sensor_descriptor_t *sensors,
                               const sh_reading_t *readings, size_t count, char *buffer, size_t capacity,
                               size_t *length)
{
    if (buffer == NULL || (count > 0 && (sensors == NULL || readings == NULL))) {
        return SH_ERR_INVALID_ARG;
    }
    /* readings needs 1 to 32 properties. */
    bool valid = count >= 1 && count <= SH_MAX_SENSORS && timestamp_ms <= SH_EPOCH_MS_MAX;
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        cJSON *values = NULL;
        valid = sh_json_add_uint(root, "timestamp", timestamp_ms) && sh_json_add_uint(root, "seq", seq) &&
                (values = cJSON_AddObjectToObject(root, "readings")) != NULL;
        for (size_t i = 0; valid && i < count; i++) {
            valid = sh_is_valid_id(sensors[i].id, 1, SH_ID_MAX_LENGTH) &&
                    cJSON_GetObjectItemCaseSensitive(values, sensors[i].id) == NULL;
            cJSON *value = valid ? create_reading(readings[i]) : NULL;
            valid = valid && value != NULL && cJSON_AddItemToObject(values, sensors[i].id, value);
            if (!valid) {
                cJSON_Delete(value);
            }
        }
    }
    return finish(root, valid, buffer, capacity, length);
}

static bool add_energy_value(cJSON *root, const char *key, const sh_reading_t *optional, bool non_negative)
{
    if (optional == NULL) {
        return true;
    }
    sh_reading_t reading = *optional;
    if (reading.present && isfinite(reading.value) && non_negative && reading.value < 0.0) {
        return false;
    }
    cJSON *value = create_reading(reading);
    if (value == NULL || !cJSON_AddItemToObject(root, key, value)) {
        cJSON_Delete(value);
        return false;
    }
    return true;
}

sh_status_t sh_energy_status_build(const sh_energy_status_t *energy, char *buffer, size_t capacity, size_t *length)
{
    if (energy == NULL || buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = energy->timestamp_ms <= SH_EPOCH_MS_MAX &&
                 (energy->relay == NULL || sh_is_valid_id(energy->relay, 1, SH_ID_MAX_LENGTH));
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        valid = sh_json_add_uint(root, "timestamp", energy->timestamp_ms) &&
                add_energy_value(root, "energyKwh", &energy->energy_kwh, true) &&
                add_energy_value(root, "powerW", energy->power_w, false) &&
                add_energy_value(root, "voltageV", energy->voltage_v, true) &&
                add_energy_value(root, "currentA", energy->current_a, true) &&
                (energy->relay == NULL || cJSON_AddStringToObject(root, "relay", energy->relay) != NULL);
    }
    return finish(root, valid, buffer, capacity, length);
}

sh_status_t sh_csr_request_build(const char *csr_pem, char *buffer, size_t capacity, size_t *length)
{
    if (buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = csr_pem != NULL && strstr(csr_pem, "-----BEGIN CERTIFICATE REQUEST-----") == csr_pem;
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        valid = cJSON_AddStringToObject(root, "certificateSigningRequest", csr_pem) != NULL;
    }
    return finish(root, valid, buffer, capacity, length);
}

sh_status_t sh_register_request_build(const char *ownership_token, const char *serial, const char *model,
                                      const char *firmware_version, char *buffer, size_t capacity,
                                      size_t *length)
{
    if (buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = is_valid_text(ownership_token, 1, SH_OWNERSHIP_TOKEN_MAX_LENGTH) &&
                 sh_is_valid_id(serial, 1, SH_SERIAL_MAX_LENGTH) && sh_is_valid_model(model) &&
                 sh_is_valid_version(firmware_version);
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        cJSON *parameters = NULL;
        valid = cJSON_AddStringToObject(root, "certificateOwnershipToken", ownership_token) != NULL &&
                (parameters = cJSON_AddObjectToObject(root, "parameters")) != NULL &&
                cJSON_AddStringToObject(parameters, "SerialNumber", serial) != NULL &&
                cJSON_AddStringToObject(parameters, "Model", model) != NULL &&
                cJSON_AddStringToObject(parameters, "FirmwareVersion", firmware_version) != NULL;
    }
    return finish(root, valid, buffer, capacity, length);
}

sh_status_t sh_jobs_update_build(const char *status, const char *step, const char *reason, char *buffer,
                                 size_t capacity, size_t *length)
{
    if (buffer == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    bool valid = status != NULL && (strcmp(status, "IN_PROGRESS") == 0 || strcmp(status, "SUCCEEDED") == 0 ||
                                    strcmp(status, "FAILED") == 0 || strcmp(status, "REJECTED") == 0);
    cJSON *root = cJSON_CreateObject();
    if (root != NULL && valid) {
        cJSON *details = NULL;
        valid = cJSON_AddStringToObject(root, "status", status) != NULL &&
                (details = cJSON_AddObjectToObject(root, "statusDetails")) != NULL &&
                (step == NULL || cJSON_AddStringToObject(details, "step", step) != NULL);
        if (valid && reason != NULL) {
            /* AWS IoT Jobs limits each statusDetails value; 128 characters stay well inside it. */
            char text[SH_REASON_MAX_LENGTH + 1];
            strncpy(text, reason, SH_REASON_MAX_LENGTH);
            text[SH_REASON_MAX_LENGTH] = '\0';
            valid = cJSON_AddStringToObject(details, "reason", text) != NULL;
        }
    }
    return finish(root, valid, buffer, capacity, length);
}
