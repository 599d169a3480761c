#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sh_posix.h"
#include "smarthome/sh_log.h"

static const char *TAG = "mqtt";

#define KEEPALIVE_SECONDS 60

sh_status_t sh_posix_mqtt_init(sh_posix_mqtt_t *mqtt, const char *host, int port, const char *ca_file,
                               const char *credentials_directory)
{
    memset(mqtt, 0, sizeof(*mqtt));
    if (strlen(host) >= sizeof(mqtt->host) || strlen(ca_file) >= sizeof(mqtt->ca_file) ||
        strlen(credentials_directory) + 32 >= sizeof(mqtt->credentials_directory) || port <= 0 || port > 65535) {
        return SH_ERR_INVALID_ARG;
    }
    strcpy(mqtt->host, host);
    strcpy(mqtt->ca_file, ca_file);
    strcpy(mqtt->credentials_directory, credentials_directory);
    mqtt->port = port;
    if (mkdir(credentials_directory, 0700) != 0 && errno != EEXIST) {
        return SH_ERR_STORAGE;
    }
    mosquitto_lib_init();
    return SH_OK;
}

void sh_posix_mqtt_set_device(sh_posix_mqtt_t *mqtt, sh_device_t *device)
{
    mqtt->device = device;
}

static void report_down(sh_posix_mqtt_t *mqtt)
{
    if (!mqtt->down_reported) {
        mqtt->down_reported = true;
        mqtt->connected = false;
        if (mqtt->device != NULL) {
            sh_device_on_disconnected(mqtt->device);
        }
    }
}

static void on_connect(struct mosquitto *client, void *user, int result)
{
    (void)client;
    sh_posix_mqtt_t *mqtt = user;
    if (result != 0) {
        SH_LOGW(TAG, "connection refused: %s", mosquitto_connack_string(result));
        report_down(mqtt);
        return;
    }
    mqtt->connected = true;
    if (mqtt->device != NULL) {
        sh_device_on_connected(mqtt->device);
    }
}

static void on_disconnect(struct mosquitto *client, void *user, int result)
{
    (void)client;
    sh_posix_mqtt_t *mqtt = user;
    if (!mqtt->down_reported) {
        SH_LOGW(TAG, "connection closed: %s", result == 0 ? "by the broker" : mosquitto_strerror(result));
    }
    report_down(mqtt);
}

static void on_subscribe(struct mosquitto *client, void *user, int message_id, int count, const int *granted)
{
    (void)client;
    sh_posix_mqtt_t *mqtt = user;
    for (int i = 0; i < count; i++) {
        if (granted[i] > 2) {
            SH_LOGW(TAG, "subscription message_id=%d was refused by the broker", message_id);
        }
    }
    if (mqtt->device != NULL) {
        sh_device_on_subscribed(mqtt->device, message_id);
    }
}

static void on_message(struct mosquitto *client, void *user, const struct mosquitto_message *message)
{
    (void)client;
    sh_posix_mqtt_t *mqtt = user;
    if (mqtt->device != NULL && message->topic != NULL) {
        sh_device_on_message(mqtt->device, message->topic, message->payload, (size_t)message->payloadlen);
    }
}

static bool write_secret_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    size_t length = strlen(text);
    bool written = write(fd, text, length) == (ssize_t)length;
    return close(fd) == 0 && written;
}

static void destroy_client(sh_posix_mqtt_t *mqtt)
{
    if (mqtt->client != NULL) {
        mosquitto_destroy(mqtt->client);
        mqtt->client = NULL;
    }
    mqtt->connected = false;
}

static sh_status_t transport_connect(void *ctx, const sh_mqtt_credentials_t *credentials)
{
    sh_posix_mqtt_t *mqtt = ctx;
    if (mqtt->in_loop) {
        return SH_ERR_INVALID_STATE;
    }
    destroy_client(mqtt);
    mqtt->destroy_pending = false;
    mqtt->down_reported = false;

    /* libmosquitto reads the client certificate and key only from files. */
    char certificate_file[PATH_MAX + 32];
    char key_file[PATH_MAX + 32];
    snprintf(certificate_file, sizeof(certificate_file), "%s/client-cert.pem", mqtt->credentials_directory);
    snprintf(key_file, sizeof(key_file), "%s/client-key.pem", mqtt->credentials_directory);
    if (!write_secret_file(certificate_file, credentials->certificate_pem) ||
        !write_secret_file(key_file, credentials->private_key_pem)) {
        SH_LOGE(TAG, "failed to write the TLS credentials to %s", mqtt->credentials_directory);
        return SH_ERR_STORAGE;
    }

    mqtt->client = mosquitto_new(credentials->client_id, true, mqtt);
    if (mqtt->client == NULL) {
        return SH_ERR_NO_MEMORY;
    }
    mosquitto_int_option(mqtt->client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(mqtt->client, on_connect);
    mosquitto_disconnect_callback_set(mqtt->client, on_disconnect);
    mosquitto_subscribe_callback_set(mqtt->client, on_subscribe);
    mosquitto_message_callback_set(mqtt->client, on_message);

    int result = mosquitto_tls_set(mqtt->client, mqtt->ca_file, NULL, certificate_file, key_file, NULL);
    if (result == MOSQ_ERR_SUCCESS) {
        result = mosquitto_tls_opts_set(mqtt->client, 1, "tlsv1.2", NULL);
    }
    if (result != MOSQ_ERR_SUCCESS) {
        SH_LOGE(TAG, "TLS setup failed: %s", mosquitto_strerror(result));
        destroy_client(mqtt);
        return SH_ERR_TRANSPORT;
    }
    result = mosquitto_connect(mqtt->client, mqtt->host, mqtt->port, KEEPALIVE_SECONDS);
    if (result != MOSQ_ERR_SUCCESS) {
        SH_LOGW(TAG, "connect to %s:%d failed: %s", mqtt->host, mqtt->port,
                result == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(result));
        destroy_client(mqtt);
        return SH_ERR_TRANSPORT;
    }
    return SH_OK;
}

static void transport_disconnect(void *ctx)
{
    sh_posix_mqtt_t *mqtt = ctx;
    /* A disconnect requested by the core is not reported back to it. */
    mqtt->down_reported = true;
    if (mqtt->client == NULL) {
        return;
    }
    mosquitto_disconnect(mqtt->client);
    mqtt->connected = false;
    if (mqtt->in_loop) {
        /* Called from a callback: the client is destroyed after mosquitto_loop() returns. */
        mqtt->destroy_pending = true;
        return;
    }
    (void)mosquitto_loop(mqtt->client, 10, 1);
    destroy_client(mqtt);
}

static sh_status_t transport_subscribe(void *ctx, const char *topic, int qos, int *message_id)
{
    sh_posix_mqtt_t *mqtt = ctx;
    if (mqtt->client == NULL || !mqtt->connected) {
        return SH_ERR_TRANSPORT;
    }
    int result = mosquitto_subscribe(mqtt->client, message_id, topic, qos);
    return result == MOSQ_ERR_SUCCESS ? SH_OK : SH_ERR_TRANSPORT;
}

static sh_status_t transport_publish(void *ctx, const char *topic, const void *payload, size_t length, int qos)
{
    sh_posix_mqtt_t *mqtt = ctx;
    if (mqtt->client == NULL || !mqtt->connected || length > 268435455u) {
        return SH_ERR_TRANSPORT;
    }
    int result = mosquitto_publish(mqtt->client, NULL, topic, (int)length, payload, qos, false);
    return result == MOSQ_ERR_SUCCESS ? SH_OK : SH_ERR_TRANSPORT;
}

void sh_posix_mqtt_bind(sh_posix_mqtt_t *mqtt, sh_transport_t *port)
{
    port->ctx = mqtt;
    port->connect = transport_connect;
    port->disconnect = transport_disconnect;
    port->subscribe = transport_subscribe;
    port->publish = transport_publish;
}

void sh_posix_mqtt_poll(sh_posix_mqtt_t *mqtt, int timeout_ms)
{
    if (mqtt->client == NULL) {
        usleep((useconds_t)timeout_ms * 1000u);
        return;
    }
    mqtt->in_loop = true;
    int result = mosquitto_loop(mqtt->client, timeout_ms, 1);
    mqtt->in_loop = false;
    if (mqtt->destroy_pending) {
        mqtt->destroy_pending = false;
        destroy_client(mqtt);
        return;
    }
    if (result != MOSQ_ERR_SUCCESS) {
        if (!mqtt->down_reported) {
            SH_LOGW(TAG, "network loop failed: %s",
                    result == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(result));
        }
        destroy_client(mqtt);
        report_down(mqtt);
    }
}

void sh_posix_mqtt_free(sh_posix_mqtt_t *mqtt)
{
    destroy_client(mqtt);
    mosquitto_lib_cleanup();
}
