#include <stdlib.h>
#include <string.h>

#include "esp_log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "mqtt_client.h"
#include "sh_esp32.h"
#include "smarthome/sh_config.h"

static const char *TAG = "mqtt";

#define EVENT_QUEUE_LENGTH 16
/* Messages larger than this are dropped; the largest expected is a CreateKeysAndCertificate reply. */
#define MAX_MESSAGE_LENGTH (SH_PROVISIONING_REPLY_MAX_BYTES)

typedef enum {
    EVENT_CONNECTED,
    EVENT_DISCONNECTED,
    EVENT_SUBSCRIBED,
    EVENT_MESSAGE,
    EVENT_CLAIM_TOKEN,
    EVENT_FACTORY_RESET,
} event_type_t;

typedef struct {
    event_type_t type;
    int message_id;
    char *topic;   /* heap, freed by the dispatcher */
    char *payload; /* heap, freed by the dispatcher */
    size_t length;
} event_t;

typedef struct {
    esp_mqtt_client_handle_t client;
    const char *host;
    int port;
    const char *root_ca_pem;
    char uri[160];
    /* Reassembly of a message that esp-mqtt delivers in several MQTT_EVENT_DATA chunks. */
    char *partial_topic;
    char *partial_payload;
    size_t partial_length;
    /* Set when the core asked to disconnect, so that the resulting event is not reported. */
    volatile bool disconnect_requested;
} transport_t;

static QueueHandle_t queue;
static transport_t transport_state;

sh_status_t sh_esp32_events_init(void)
{
    queue = xQueueCreate(EVENT_QUEUE_LENGTH, sizeof(event_t));
    return queue != NULL ? SH_OK : SH_ERR_NO_MEMORY;
}

static void post(const event_t *event)
{
    if (xQueueSend(queue, event, pdMS_TO_TICKS(1000)) != pdTRUE) {
        ESP_LOGE(TAG, "event queue full, dropping event %d", (int)event->type);
        free(event->topic);
        free(event->payload);
    }
}

static char *copy_text(const char *text, size_t length)
{
    char *copy = malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

static void reset_partial(transport_t *state)
{
    free(state->partial_topic);
    free(state->partial_payload);
    state->partial_topic = NULL;
    state->partial_payload = NULL;
    state->partial_length = 0;
}

static void handle_data(transport_t *state, const esp_mqtt_event_t *event)
{
    if (event->current_data_offset == 0) {
        reset_partial(state);
        if (event->total_data_len < 0 || event->total_data_len > MAX_MESSAGE_LENGTH) {
            ESP_LOGW(TAG, "dropping a message of %d bytes", event->total_data_len);
            return;
        }
        state->partial_topic = copy_text(event->topic, (size_t)event->topic_len);
        state->partial_payload = malloc((size_t)event->total_data_len + 1);
        if (state->partial_topic == NULL || state->partial_payload == NULL) {
            ESP_LOGE(TAG, "out of memory for a message of %d bytes", event->total_data_len);
            reset_partial(state);
            return;
        }
    }
    if (state->partial_payload == NULL ||
        (size_t)event->current_data_offset + (size_t)event->data_len > (size_t)event->total_data_len) {
        return;
    }
    memcpy(state->partial_payload + event->current_data_offset, event->data, (size_t)event->data_len);
    state->partial_length = (size_t)event->current_data_offset + (size_t)event->data_len;
    if (state->partial_length == (size_t)event->total_data_len) {
        state->partial_payload[state->partial_length] = '\0';
        event_t message = {.type = EVENT_MESSAGE,
                           .topic = state->partial_topic,
                           .payload = state->partial_payload,
                           .length = state->partial_length};
        state->partial_topic = NULL;
        state->partial_payload = NULL;
        state->partial_length = 0;
        post(&message);
    }
}

static void on_mqtt_event(void *handler_args, esp_event_base_t base, int32_t event_id, void *event_data)
{
    (void)base;
    transport_t *state = handler_args;
    esp_mqtt_event_handle_t event = event_data;
    event_t queued = {0};
    switch ((esp_mqtt_event_id_t)event_id) {
    case MQTT_EVENT_CONNECTED:
        queued.type = EVENT_CONNECTED;
        post(&queued);
        break;
    case MQTT_EVENT_DISCONNECTED:
        if (!state->disconnect_requested) {
            queued.type = EVENT_DISCONNECTED;
            post(&queued);
        }
        break;
    case MQTT_EVENT_SUBSCRIBED:
        queued.type = EVENT_SUBSCRIBED;
        queued.message_id = event->msg_id;
        post(&queued);
        break;
    case MQTT_EVENT_DATA:
        handle_data(state, event);
        break;
    case MQTT_EVENT_ERROR:
        if (event->error_handle != NULL) {
            ESP_LOGW(TAG, "error type=%d tls_esp_err=0x%x connect_return_code=%d", event->error_handle->error_type,
                     (unsigned)event->error_handle->esp_tls_last_esp_err, event->error_handle->connect_return_code);
        }
        break;
    default:
        break;
    }
}

static void destroy_client(transport_t *state)
{
    if (state->client != NULL) {
        state->disconnect_requested = true;
        esp_mqtt_client_stop(state->client);
        esp_mqtt_client_destroy(state->client);
        state->client = NULL;
    }
    reset_partial(state);
}

static sh_status_t transport_connect(void *ctx, const sh_mqtt_credentials_t *credentials)
{
    transport_t *state = ctx;
    destroy_client(state);
    state->disconnect_requested = false;

    esp_mqtt_client_config_t config = {
        .broker.address.uri = state->uri,
        .broker.verification.certificate = state->root_ca_pem,
        .credentials.client_id = credentials->client_id,
        .credentials.authentication.certificate = credentials->certificate_pem,
        .credentials.authentication.key = credentials->private_key_pem,
        .session.keepalive = 60,
        .session.protocol_ver = MQTT_PROTOCOL_V_3_1_1,
        /* The core owns reconnects, so it can switch identities and apply its backoff. */
        .network.disable_auto_reconnect = true,
        .buffer.size = 4096,
    };
    state->client = esp_mqtt_client_init(&config);
    if (state->client == NULL) {
        return SH_ERR_NO_MEMORY;
    }
    esp_mqtt_client_register_event(state->client, ESP_EVENT_ANY_ID, on_mqtt_event, state);
    if (esp_mqtt_client_start(state->client) != ESP_OK) {
        destroy_client(state);
        return SH_ERR_TRANSPORT;
    }
    return SH_OK;
}

static void transport_disconnect(void *ctx)
{
    destroy_client(ctx);
}

static sh_status_t transport_subscribe(void *ctx, const char *topic, int qos, int *message_id)
{
    transport_t *state = ctx;
    if (state->client == NULL) {
        return SH_ERR_TRANSPORT;
    }
    int id = esp_mqtt_client_subscribe(state->client, topic, qos);
    if (id < 0) {
        return SH_ERR_TRANSPORT;
    }
    *message_id = id;
    return SH_OK;
}

static sh_status_t transport_publish(void *ctx, const char *topic, const void *payload, size_t length, int qos)
{
    transport_t *state = ctx;
    if (state->client == NULL || length > INT32_MAX) {
        return SH_ERR_TRANSPORT;
    }
    /* enqueue stores QoS 1 messages in the outbox instead of blocking the device task. */
    int id = esp_mqtt_client_enqueue(state->client, topic, payload, (int)length, qos, 0, true);
    return id >= 0 ? SH_OK : SH_ERR_TRANSPORT;
}

sh_status_t sh_esp32_mqtt_init(const char *host, int port, const char *root_ca_pem, sh_transport_t *transport)
{
    transport_t *state = &transport_state;
    memset(state, 0, sizeof(*state));
    int written = snprintf(state->uri, sizeof(state->uri), "mqtts://%s:%d", host, port);
    if (host[0] == '\0' || written <= 0 || (size_t)written >= sizeof(state->uri)) {
        return SH_ERR_INVALID_ARG;
    }
    state->host = host;
    state->port = port;
    state->root_ca_pem = root_ca_pem;
    *transport = (sh_transport_t){
        .ctx = state,
        .connect = transport_connect,
        .disconnect = transport_disconnect,
        .subscribe = transport_subscribe,
        .publish = transport_publish,
    };
    return SH_OK;
}

void sh_esp32_events_dispatch(sh_device_t *device, uint32_t timeout_ms)
{
    event_t event;
    if (xQueueReceive(queue, &event, pdMS_TO_TICKS(timeout_ms)) != pdTRUE) {
        return;
    }
    switch (event.type) {
    case EVENT_CONNECTED: sh_device_on_connected(device); break;
    case EVENT_DISCONNECTED: sh_device_on_disconnected(device); break;
    case EVENT_SUBSCRIBED: sh_device_on_subscribed(device, event.message_id); break;
    case EVENT_MESSAGE: sh_device_on_message(device, event.topic, event.payload, event.length); break;
    case EVENT_CLAIM_TOKEN:
        if (sh_device_set_claim_token(device, event.payload) != SH_OK) {
            ESP_LOGW(TAG, "claim token from onboarding is invalid or could not be stored");
        }
        break;
    case EVENT_FACTORY_RESET:
        (void)sh_device_forget_owner(device);
        ESP_LOGW(TAG, "Wi-Fi and owner cleared by the button, restarting");
        esp_restart();
        break;
    }
    free(event.topic);
    free(event.payload);
}

void sh_esp32_events_post_claim_token(const char *claim_token)
{
    event_t event = {.type = EVENT_CLAIM_TOKEN, .payload = copy_text(claim_token, strlen(claim_token))};
    if (event.payload != NULL) {
        post(&event);
    }
}

void sh_esp32_events_post_factory_reset(void)
{
    event_t event = {.type = EVENT_FACTORY_RESET};
    post(&event);
}
