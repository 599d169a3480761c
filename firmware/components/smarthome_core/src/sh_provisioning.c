#include "smarthome/sh_provisioning.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sh_storage_keys.h"
#include "smarthome/sh_log.h"

static const char *TAG = "provision";

static void advance(sh_provisioning_t *provisioning);

const char *sh_provisioning_state_name(sh_provisioning_state_t state)
{
    switch (state) {
    case SH_PROVISIONING_STATE_NONE: return "NONE";
    case SH_PROVISIONING_STATE_KEY_READY: return "KEY_READY";
    case SH_PROVISIONING_STATE_CERTIFICATE_STORED: return "CERTIFICATE_STORED";
    case SH_PROVISIONING_STATE_PROVISIONED: return "PROVISIONED";
    }
    return "UNKNOWN";
}

static const char *certificate_api_name(const sh_provisioning_t *provisioning)
{
    return provisioning->config.method == SH_PROVISIONING_METHOD_CSR ? "CreateCertificateFromCsr"
                                                                     : "CreateKeysAndCertificate";
}

static uint64_t now_monotonic(const sh_provisioning_t *provisioning)
{
    return provisioning->ports->clock.monotonic_ms(provisioning->ports->clock.ctx);
}

static bool fits(int written)
{
    return written > 0 && written < SH_TOPIC_MAX_LENGTH;
}

sh_status_t sh_provisioning_init(sh_provisioning_t *provisioning, const sh_ports_t *ports,
                                 const sh_provisioning_config_t *config)
{
    if (provisioning == NULL || ports == NULL || config == NULL) {
        return SH_ERR_INVALID_ARG;
    }
    memset(provisioning, 0, sizeof(*provisioning));
    provisioning->ports = ports;
    provisioning->config = *config;
    sh_backoff_init(&provisioning->backoff, SH_BACKOFF_BASE_MS, SH_BACKOFF_MAX_MS);

    if (!sh_is_valid_id(config->serial, 1, SH_SERIAL_MAX_LENGTH) || !sh_is_valid_model(config->model) ||
        !sh_is_valid_version(config->firmware_version) || config->thing_name_prefix == NULL ||
        config->template_name == NULL || !sh_is_valid_id(config->template_name, 1, 36)) {
        return SH_ERR_INVALID_ARG;
    }
    int written = snprintf(provisioning->expected_thing_name, sizeof(provisioning->expected_thing_name), "%s%s",
                           config->thing_name_prefix, config->serial);
    if (written <= 0 || (size_t)written >= sizeof(provisioning->expected_thing_name) ||
        !sh_is_valid_id(provisioning->expected_thing_name, 1, SH_THING_NAME_MAX_LENGTH)) {
        return SH_ERR_INVALID_ARG;
    }

    const char *api = config->method == SH_PROVISIONING_METHOD_CSR ? "create-from-csr" : "create";
    const char *name = config->template_name;
    if (!fits(snprintf(provisioning->topic_certificate_request, SH_TOPIC_MAX_LENGTH, "$aws/certificates/%s/json",
                       api)) ||
        !fits(snprintf(provisioning->topic_certificate_accepted, SH_TOPIC_MAX_LENGTH,
                       "$aws/certificates/%s/json/accepted", api)) ||
        !fits(snprintf(provisioning->topic_certificate_rejected, SH_TOPIC_MAX_LENGTH,
                       "$aws/certificates/%s/json/rejected", api)) ||
        !fits(snprintf(provisioning->topic_register_request, SH_TOPIC_MAX_LENGTH,
                       "$aws/provisioning-templates/%s/provision/json", name)) ||
        !fits(snprintf(provisioning->topic_register_accepted, SH_TOPIC_MAX_LENGTH,
                       "$aws/provisioning-templates/%s/provision/json/accepted", name)) ||
        !fits(snprintf(provisioning->topic_register_rejected, SH_TOPIC_MAX_LENGTH,
                       "$aws/provisioning-templates/%s/provision/json/rejected", name))) {
        return SH_ERR_INVALID_ARG;
    }
    return SH_OK;
}

/* Writes the new state last, after the data it vouches for. */
static sh_status_t store_state(sh_provisioning_t *provisioning, sh_provisioning_state_t state)
{
    uint8_t value = (uint8_t)state;
    sh_status_t status = provisioning->ports->storage.write(provisioning->ports->storage.ctx,
                                                             SH_KEY_PROVISIONING_STATE, &value, 1);
    if (status == SH_OK) {
        provisioning->state = state;
    }
    return status;
}

static void store_attempt(sh_provisioning_t *provisioning)
{
    const sh_storage_t *storage = &provisioning->ports->storage;
    sh_status_t status = sh_storage_write_u64(storage, SH_KEY_PROVISIONING_ATTEMPT, provisioning->backoff.attempt);
    if (status != SH_OK) {
        SH_LOGW(TAG, "failed to store the retry count: %s", sh_status_name(status));
    }
}

sh_status_t sh_provisioning_load(sh_provisioning_t *provisioning)
{
    const sh_storage_t *storage = &provisioning->ports->storage;
    uint8_t value = 0;
    size_t length = 0;
    sh_status_t status = storage->read(storage->ctx, SH_KEY_PROVISIONING_STATE, &value, 1, &length);
    if (status == SH_ERR_NOT_FOUND) {
        value = SH_PROVISIONING_STATE_NONE;
    } else if (status != SH_OK || length != 1) {
        SH_LOGE(TAG, "failed to read the provisioning state: %s", sh_status_name(status));
        return status == SH_OK ? SH_ERR_STORAGE : status;
    }
    if (value > SH_PROVISIONING_STATE_PROVISIONED) {
        SH_LOGW(TAG, "stored state %u is unknown, starting over", (unsigned)value);
        value = SH_PROVISIONING_STATE_NONE;
    }
    provisioning->state = (sh_provisioning_state_t)value;

    uint64_t attempt = 0;
    if (sh_storage_read_u64(storage, SH_KEY_PROVISIONING_ATTEMPT, &attempt) == SH_OK) {
        provisioning->backoff.attempt = attempt > 64 ? 64 : (uint32_t)attempt;
    }

    /* A state whose data cannot be read falls back to the step that produces the data. */
    if (provisioning->state >= SH_PROVISIONING_STATE_KEY_READY &&
        provisioning->config.method == SH_PROVISIONING_METHOD_CSR &&
        sh_storage_read_string(storage, SH_KEY_PRIVATE_KEY, provisioning->private_key_pem,
                               sizeof(provisioning->private_key_pem)) != SH_OK) {
        SH_LOGW(TAG, "stored private key is missing, starting over");
        provisioning->state = SH_PROVISIONING_STATE_NONE;
    }
    if (provisioning->state >= SH_PROVISIONING_STATE_CERTIFICATE_STORED) {
        bool complete = sh_storage_read_string(storage, SH_KEY_PRIVATE_KEY, provisioning->private_key_pem,
                                               sizeof(provisioning->private_key_pem)) == SH_OK &&
                        sh_storage_read_string(storage, SH_KEY_CERTIFICATE, provisioning->certificate_pem,
                                               sizeof(provisioning->certificate_pem)) == SH_OK;
        if (complete && provisioning->state == SH_PROVISIONING_STATE_CERTIFICATE_STORED) {
            complete = sh_storage_read_string(storage, SH_KEY_OWNERSHIP_TOKEN, provisioning->ownership_token,
                                              sizeof(provisioning->ownership_token)) == SH_OK;
        }
        if (complete && provisioning->state == SH_PROVISIONING_STATE_PROVISIONED) {
            complete = sh_storage_read_string(storage, SH_KEY_THING_NAME, provisioning->thing_name,
                                              sizeof(provisioning->thing_name)) == SH_OK &&
                       sh_is_valid_id(provisioning->thing_name, 1, SH_THING_NAME_MAX_LENGTH);
        }
        if (!complete) {
            SH_LOGW(TAG, "stored identity of state %s is incomplete, starting over",
                    sh_provisioning_state_name(provisioning->state));
            provisioning->state = SH_PROVISIONING_STATE_NONE;
        }
    }
    provisioning->token_from_this_boot = false;
    SH_LOGI(TAG, "state=%s", sh_provisioning_state_name(provisioning->state));
    return SH_OK;
}

bool sh_provisioning_is_complete(const sh_provisioning_t *provisioning)
{
    return provisioning->state == SH_PROVISIONING_STATE_PROVISIONED;
}

static void retry_later(sh_provisioning_t *provisioning)
{
    uint32_t random_value = 0;
    if (provisioning->ports->random.fill(provisioning->ports->random.ctx, &random_value, sizeof(random_value)) !=
        SH_OK) {
        random_value = (uint32_t)now_monotonic(provisioning);
    }
    uint32_t delay = sh_backoff_next_delay_ms(&provisioning->backoff, random_value);
    store_attempt(provisioning);
    provisioning->phase = SH_PROVISIONING_PHASE_BACKOFF;
    provisioning->deadline_ms = now_monotonic(provisioning) + delay;
    SH_LOGI(TAG, "retrying in %" PRIu32 " ms attempt=%" PRIu32, delay, provisioning->backoff.attempt);
}

static void subscribe_all(sh_provisioning_t *provisioning)
{
    const sh_transport_t *transport = &provisioning->ports->transport;
    const char *topics[SH_PROVISIONING_TOPIC_COUNT] = {
        provisioning->topic_certificate_accepted, provisioning->topic_certificate_rejected,
        provisioning->topic_register_accepted, provisioning->topic_register_rejected};

    provisioning->phase = SH_PROVISIONING_PHASE_SUBSCRIBING;
    provisioning->pending_count = 0;
    provisioning->deadline_ms = now_monotonic(provisioning) + SH_SUBSCRIBE_TIMEOUT_MS;
    for (size_t i = 0; i < SH_PROVISIONING_TOPIC_COUNT; i++) {
        int message_id = -1;
        sh_status_t status = transport->subscribe(transport->ctx, topics[i], 1, &message_id);
        if (status != SH_OK) {
            SH_LOGE(TAG, "failed to subscribe to %s: %s", topics[i], sh_status_name(status));
            retry_later(provisioning);
            return;
        }
        provisioning->pending_subscriptions[provisioning->pending_count++] = message_id;
    }
}

void sh_provisioning_on_connected(sh_provisioning_t *provisioning)
{
    provisioning->subscribed = false;
    if (provisioning->state == SH_PROVISIONING_STATE_PROVISIONED) {
        provisioning->phase = SH_PROVISIONING_PHASE_DONE;
        return;
    }
    SH_LOGI(TAG, "connected with the claim certificate client=%s state=%s", provisioning->expected_thing_name,
            sh_provisioning_state_name(provisioning->state));
    if (provisioning->backoff.attempt > 0 && provisioning->phase != SH_PROVISIONING_PHASE_BACKOFF) {
        /* Failures before a restart still count, so a restart loop cannot hammer the service. */
        retry_later(provisioning);
        return;
    }
    if (provisioning->phase != SH_PROVISIONING_PHASE_BACKOFF) {
        subscribe_all(provisioning);
    }
}

void sh_provisioning_on_disconnected(sh_provisioning_t *provisioning)
{
    provisioning->subscribed = false;
    provisioning->pending_count = 0;
    if (provisioning->phase != SH_PROVISIONING_PHASE_BACKOFF && provisioning->phase != SH_PROVISIONING_PHASE_DONE) {
        provisioning->phase = SH_PROVISIONING_PHASE_DISCONNECTED;
    }
}

void sh_provisioning_on_subscribed(sh_provisioning_t *provisioning, int message_id)
{
    if (provisioning->phase != SH_PROVISIONING_PHASE_SUBSCRIBING) {
        return;
    }
    for (size_t i = 0; i < provisioning->pending_count; i++) {
        if (provisioning->pending_subscriptions[i] == message_id) {
            provisioning->pending_subscriptions[i] = provisioning->pending_subscriptions[--provisioning->pending_count];
            break;
        }
    }
    if (provisioning->pending_count == 0) {
        provisioning->subscribed = true;
        advance(provisioning);
    }
}

static bool publish(sh_provisioning_t *provisioning, const char *topic, size_t length)
{
    const sh_transport_t *transport = &provisioning->ports->transport;
    sh_status_t status = transport->publish(transport->ctx, topic, provisioning->payload, length, 1);
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to publish to %s: %s", topic, sh_status_name(status));
        return false;
    }
    return true;
}

static sh_status_t generate_key(sh_provisioning_t *provisioning)
{
    const sh_crypto_t *crypto = &provisioning->ports->crypto;
    sh_status_t status =
        crypto->generate_key_pem(crypto->ctx, provisioning->private_key_pem, sizeof(provisioning->private_key_pem));
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to generate an EC P-256 key: %s", sh_status_name(status));
        return status;
    }
    status = sh_storage_write_string(&provisioning->ports->storage, SH_KEY_PRIVATE_KEY, provisioning->private_key_pem);
    if (status == SH_OK) {
        status = store_state(provisioning, SH_PROVISIONING_STATE_KEY_READY);
    }
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to store the private key: %s", sh_status_name(status));
        return status;
    }
    SH_LOGI(TAG, "key generated");
    return SH_OK;
}

static void request_certificate(sh_provisioning_t *provisioning)
{
    size_t length = 0;
    sh_status_t status;
    if (provisioning->config.method == SH_PROVISIONING_METHOD_CSR) {
        char csr[SH_CSR_PEM_MAX_LENGTH];
        const sh_crypto_t *crypto = &provisioning->ports->crypto;
        status = crypto->create_csr_pem(crypto->ctx, provisioning->private_key_pem, provisioning->expected_thing_name,
                                        csr, sizeof(csr));
        if (status == SH_OK) {
            status = sh_csr_request_build(csr, provisioning->payload, sizeof(provisioning->payload), &length);
        }
    } else {
        status = sizeof(provisioning->payload) > 2 ? SH_OK : SH_ERR_BUFFER_TOO_SMALL;
        strcpy(provisioning->payload, "{}");
        length = 2;
    }
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to build the %s request: %s", certificate_api_name(provisioning), sh_status_name(status));
        retry_later(provisioning);
        return;
    }
    if (!publish(provisioning, provisioning->topic_certificate_request, length)) {
        retry_later(provisioning);
        return;
    }
    provisioning->phase = SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE;
    provisioning->deadline_ms = now_monotonic(provisioning) + SH_REPLY_TIMEOUT_MS;
    SH_LOGI(TAG, "requesting certificate api=%s", certificate_api_name(provisioning));
}

/* Returns true when the stored ownership token may still be used. */
static bool is_token_fresh(sh_provisioning_t *provisioning, uint64_t *age_ms)
{
    if (provisioning->token_from_this_boot) {
        *age_ms = now_monotonic(provisioning) - provisioning->token_received_monotonic_ms;
        return *age_ms <= SH_OWNERSHIP_TOKEN_MAX_AGE_MS;
    }
    /* After a restart only the wall clock can tell the age. Without it the token counts as expired. */
    uint64_t received_at = 0;
    uint64_t now = 0;
    const sh_clock_t *clock = &provisioning->ports->clock;
    if (sh_storage_read_u64(&provisioning->ports->storage, SH_KEY_TOKEN_RECEIVED_AT, &received_at) != SH_OK ||
        received_at == 0 || clock->epoch_ms(clock->ctx, &now) != SH_OK || now < SH_MIN_VALID_EPOCH_MS ||
        now < received_at) {
        *age_ms = UINT64_MAX;
        return false;
    }
    *age_ms = now - received_at;
    return *age_ms <= SH_OWNERSHIP_TOKEN_MAX_AGE_MS;
}

static void register_thing(sh_provisioning_t *provisioning)
{
    size_t length = 0;
    sh_status_t status = sh_register_request_build(provisioning->ownership_token, provisioning->config.serial,
                                                   provisioning->config.model, provisioning->config.firmware_version,
                                                   provisioning->payload, sizeof(provisioning->payload), &length);
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to build the RegisterThing request: %s", sh_status_name(status));
        retry_later(provisioning);
        return;
    }
    if (!publish(provisioning, provisioning->topic_register_request, length)) {
        retry_later(provisioning);
        return;
    }
    provisioning->phase = SH_PROVISIONING_PHASE_AWAIT_REGISTRATION;
    provisioning->deadline_ms = now_monotonic(provisioning) + SH_REPLY_TIMEOUT_MS;
    SH_LOGI(TAG, "registering thing serial=%s template=%s", provisioning->config.serial,
            provisioning->config.template_name);
}

/* Sends the request for the current persisted state. */
static void advance(sh_provisioning_t *provisioning)
{
    if (provisioning->state == SH_PROVISIONING_STATE_CERTIFICATE_STORED) {
        uint64_t age_ms = 0;
        if (is_token_fresh(provisioning, &age_ms)) {
            register_thing(provisioning);
            return;
        }
        if (age_ms == UINT64_MAX) {
            SH_LOGW(TAG, "ownership token age is unknown, requesting a new certificate");
        } else {
            SH_LOGW(TAG, "ownership token is %" PRIu64 " ms old, requesting a new certificate", age_ms);
        }
        sh_status_t status = provisioning->ports->storage.erase(provisioning->ports->storage.ctx,
                                                                 SH_KEY_OWNERSHIP_TOKEN);
        if (status == SH_OK) {
            status = store_state(provisioning, SH_PROVISIONING_STATE_NONE);
        }
        if (status != SH_OK) {
            SH_LOGE(TAG, "failed to discard the expired token: %s", sh_status_name(status));
            retry_later(provisioning);
            return;
        }
    }
    if (provisioning->state == SH_PROVISIONING_STATE_NONE && provisioning->config.method == SH_PROVISIONING_METHOD_CSR) {
        if (generate_key(provisioning) != SH_OK) {
            retry_later(provisioning);
            return;
        }
    }
    if (provisioning->state == SH_PROVISIONING_STATE_NONE || provisioning->state == SH_PROVISIONING_STATE_KEY_READY) {
        request_certificate(provisioning);
        return;
    }
    provisioning->phase = SH_PROVISIONING_PHASE_DONE;
}

static bool is_throttling(const sh_provisioning_error_t *reply)
{
    return reply->status_code == 429 || strstr(reply->error_code, "Throttl") != NULL;
}

static void handle_rejection(sh_provisioning_t *provisioning, const char *api, const char *payload, size_t length)
{
    sh_provisioning_error_t reply;
    const char *error = NULL;
    if (sh_provisioning_error_parse(payload, length, &reply, &error) == SH_OK) {
        SH_LOGW(TAG, "%s %s statusCode=%d errorCode=%s errorMessage=%s", api,
                is_throttling(&reply) ? "throttled" : "rejected", reply.status_code, reply.error_code,
                reply.error_message);
    } else {
        SH_LOGW(TAG, "%s rejected with an unreadable reply: %s", api, error);
    }
    retry_later(provisioning);
}

static sh_status_t store_certificate(sh_provisioning_t *provisioning)
{
    const sh_storage_t *storage = &provisioning->ports->storage;
    const sh_certificate_reply_t *reply = &provisioning->reply;
    uint64_t now = 0;
    if (provisioning->ports->clock.epoch_ms(provisioning->ports->clock.ctx, &now) != SH_OK ||
        now < SH_MIN_VALID_EPOCH_MS) {
        now = 0; /* unknown: the token will not be reused after a restart */
    }

    sh_status_t status = SH_OK;
    if (reply->has_private_key) {
        status = sh_storage_write_string(storage, SH_KEY_PRIVATE_KEY, reply->private_key_pem);
    }
    if (status == SH_OK) {
        status = sh_storage_write_string(storage, SH_KEY_CERTIFICATE, reply->certificate_pem);
    }
    if (status == SH_OK) {
        status = sh_storage_write_string(storage, SH_KEY_CERTIFICATE_ID, reply->certificate_id);
    }
    if (status == SH_OK) {
        status = sh_storage_write_string(storage, SH_KEY_OWNERSHIP_TOKEN, reply->ownership_token);
    }
    if (status == SH_OK) {
        status = sh_storage_write_u64(storage, SH_KEY_TOKEN_RECEIVED_AT, now);
    }
    if (status == SH_OK) {
        status = store_state(provisioning, SH_PROVISIONING_STATE_CERTIFICATE_STORED);
    }
    if (status != SH_OK) {
        return status;
    }

    if (reply->has_private_key) {
        memcpy(provisioning->private_key_pem, reply->private_key_pem, sizeof(provisioning->private_key_pem));
    }
    memcpy(provisioning->certificate_pem, reply->certificate_pem, sizeof(provisioning->certificate_pem));
    memcpy(provisioning->ownership_token, reply->ownership_token, sizeof(provisioning->ownership_token));
    provisioning->token_from_this_boot = true;
    provisioning->token_received_monotonic_ms = now_monotonic(provisioning);
    return SH_OK;
}

static void handle_certificate(sh_provisioning_t *provisioning, const char *payload, size_t length)
{
    const char *error = NULL;
    bool expect_key = provisioning->config.method == SH_PROVISIONING_METHOD_KEYS_AND_CERTIFICATE;
    sh_status_t status = sh_certificate_reply_parse(payload, length, expect_key, &provisioning->reply, &error);
    if (status != SH_OK) {
        SH_LOGE(TAG, "%s reply is invalid: %s", certificate_api_name(provisioning), error);
        retry_later(provisioning);
        return;
    }
    status = store_certificate(provisioning);
    /* The reply contains a private key in the CreateKeysAndCertificate case, so it is cleared at once. */
    memset(&provisioning->reply, 0, sizeof(provisioning->reply));
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to store the certificate: %s", sh_status_name(status));
        retry_later(provisioning);
        return;
    }
    SH_LOGI(TAG, "certificate stored");
    advance(provisioning);
}

static void handle_registration(sh_provisioning_t *provisioning, const char *payload, size_t length)
{
    sh_register_reply_t reply;
    const char *error = NULL;
    if (sh_register_reply_parse(payload, length, &reply, &error) != SH_OK) {
        SH_LOGE(TAG, "RegisterThing reply is invalid: %s", error);
        retry_later(provisioning);
        return;
    }
    if (strcmp(reply.thing_name, provisioning->expected_thing_name) != 0) {
        SH_LOGW(TAG, "template named the thing %s instead of %s; using %s", reply.thing_name,
                provisioning->expected_thing_name, reply.thing_name);
    }

    const sh_storage_t *storage = &provisioning->ports->storage;
    sh_status_t status = sh_storage_write_string(storage, SH_KEY_THING_NAME, reply.thing_name);
    if (status == SH_OK) {
        status = store_state(provisioning, SH_PROVISIONING_STATE_PROVISIONED);
    }
    if (status != SH_OK) {
        SH_LOGE(TAG, "failed to store the thing name: %s", sh_status_name(status));
        retry_later(provisioning);
        return;
    }
    memcpy(provisioning->thing_name, reply.thing_name, sizeof(provisioning->thing_name));

    /* The token is single-use; failing to erase it is harmless because state PROVISIONED ignores it. */
    (void)storage->erase(storage->ctx, SH_KEY_OWNERSHIP_TOKEN);
    memset(provisioning->ownership_token, 0, sizeof(provisioning->ownership_token));
    sh_backoff_reset(&provisioning->backoff);
    (void)storage->erase(storage->ctx, SH_KEY_PROVISIONING_ATTEMPT);
    provisioning->phase = SH_PROVISIONING_PHASE_DONE;
    SH_LOGI(TAG, "registered thing=%s", provisioning->thing_name);
}

bool sh_provisioning_on_message(sh_provisioning_t *provisioning, const char *topic, const char *payload,
                                size_t length)
{
    bool certificate_accepted = strcmp(topic, provisioning->topic_certificate_accepted) == 0;
    bool certificate_rejected = strcmp(topic, provisioning->topic_certificate_rejected) == 0;
    bool register_accepted = strcmp(topic, provisioning->topic_register_accepted) == 0;
    bool register_rejected = strcmp(topic, provisioning->topic_register_rejected) == 0;
    if (!certificate_accepted && !certificate_rejected && !register_accepted && !register_rejected) {
        return false;
    }

    if (certificate_accepted || certificate_rejected) {
        if (provisioning->phase != SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE) {
            SH_LOGW(TAG, "ignoring a %s reply that arrived while not waiting for one", certificate_api_name(provisioning));
        } else if (certificate_accepted) {
            handle_certificate(provisioning, payload, length);
        } else {
            handle_rejection(provisioning, certificate_api_name(provisioning), payload, length);
        }
        return true;
    }

    if (provisioning->phase != SH_PROVISIONING_PHASE_AWAIT_REGISTRATION) {
        SH_LOGW(TAG, "ignoring a RegisterThing reply that arrived while not waiting for one");
    } else if (register_accepted) {
        handle_registration(provisioning, payload, length);
    } else {
        handle_rejection(provisioning, "RegisterThing", payload, length);
    }
    return true;
}

void sh_provisioning_tick(sh_provisioning_t *provisioning)
{
    uint64_t now = now_monotonic(provisioning);
    switch (provisioning->phase) {
    case SH_PROVISIONING_PHASE_SUBSCRIBING:
    case SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE:
    case SH_PROVISIONING_PHASE_AWAIT_REGISTRATION:
        if (now >= provisioning->deadline_ms) {
            const char *waiting_for = provisioning->phase == SH_PROVISIONING_PHASE_SUBSCRIBING ? "SUBACK"
                                      : provisioning->phase == SH_PROVISIONING_PHASE_AWAIT_CERTIFICATE
                                          ? certificate_api_name(provisioning)
                                          : "RegisterThing";
            SH_LOGW(TAG, "timed out waiting for the %s reply", waiting_for);
            retry_later(provisioning);
        }
        break;
    case SH_PROVISIONING_PHASE_BACKOFF:
        if (now >= provisioning->deadline_ms) {
            if (provisioning->subscribed) {
                advance(provisioning);
            } else {
                subscribe_all(provisioning);
            }
        }
        break;
    case SH_PROVISIONING_PHASE_DISCONNECTED:
    case SH_PROVISIONING_PHASE_DONE:
        break;
    }
}
