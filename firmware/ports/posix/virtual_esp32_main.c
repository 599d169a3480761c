/*
 * virtual-esp32: the smart-home core on Linux, as a stand-in for an ESP32 board. Relays and
 * sensors are simulated, storage and OTA slots are files under --storage, and restarts (after an
 * update or a rollback) re-execute the binary with the same arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sh_crypto_mbedtls.h"
#include "sh_posix.h"
#include "smarthome/sh_device.h"
#include "smarthome/sh_log.h"

static const char *TAG = "device";

#define MAX_MISSING_SENSORS 8
#define MAX_PEM_LENGTH 8192

typedef struct {
    const char *endpoint;
    const char *ca_file;
    const char *claim_certificate_file;
    const char *claim_key_file;
    const char *serial;
    const char *model;
    const char *thing_prefix;
    const char *template_name;
    const char *storage;
    const char *claim_token;
    const char *ota_public_key_file;
    const char *firmware_version;
    const char *missing_sensors[MAX_MISSING_SENSORS];
    size_t missing_sensor_count;
    long relay_count;
    long telemetry_period_ms;
    sh_provisioning_method_t provisioning_method;
    bool self_test_fail;
    bool verbose;
} options_t;

static volatile sig_atomic_t stop_requested = 0;
/* Set by SIGUSR1 and cleared by SIGUSR2. The main loop applies it to the simulated hardware. */
static volatile sig_atomic_t over_current_requested = 0;
static char **saved_argv;
static sh_posix_mqtt_t mqtt;

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static void on_fault_signal(int signal_number)
{
    over_current_requested = signal_number == SIGUSR1;
}

static void print_usage(FILE *stream)
{
    fputs("Usage: virtual-esp32 --endpoint HOST:PORT --ca FILE --claim-cert FILE --claim-key FILE\n"
          "                     --serial SERIAL --storage DIR [options]\n"
          "\n"
          "Runs the smart-home device firmware core on Linux: fleet provisioning by claim, relay\n"
          "commands, telemetry, reset and OTA through AWS IoT Jobs, with simulated hardware.\n"
          "\n"
          "Required:\n"
          "  --endpoint HOST:PORT      MQTT broker (AWS IoT data endpoint or a local broker), TLS only\n"
          "  --ca FILE                 PEM CA certificate that signed the broker's certificate\n"
          "  --claim-cert FILE         PEM claim certificate used until fleet provisioning completes\n"
          "  --claim-key FILE          PEM private key of the claim certificate\n"
          "  --serial SERIAL           device serial, ^[A-Za-z0-9_-]{1,64}$\n"
          "  --storage DIR             directory for persistent storage (nvs/) and OTA slots (ota/)\n"
          "\n"
          "Options:\n"
          "  --model MODEL             model reported in the capability document (default virtual-esp32)\n"
          "  --thing-prefix PREFIX     thing name prefix; thing name = prefix + serial (default sh-)\n"
          "  --template NAME           fleet provisioning template name (default SmartHomeFleetProvisioning)\n"
          "  --provisioning-method M   csr (default: key generated on the device) or keys\n"
          "                            (CreateKeysAndCertificate)\n"
          "  --relays N                number of simulated relays relay1..relayN, 0 to 16 (default 2)\n"
          "  --telemetry-period-ms MS  telemetry and energy period in milliseconds (default 60000)\n"
          "  --claim-token TOKEN       owner's auto-discovery claim token, stored and announced in the\n"
          "                            capability document until a reset command\n"
          "  --ota-public-key FILE     PEM EC P-256 public key that verifies OTA image signatures;\n"
          "                            without it every OTA job fails\n"
          "  --firmware-version VER    semantic version of the image flashed to slot 0 (default 1.0.0)\n"
          "  --self-test-fail          make the self-test of a newly installed image fail, so it rolls back\n"
          "  --missing-sensor ID       make sensor ID report no value (published as null); repeatable\n"
          "  --verbose                 also print debug lines\n"
          "  --help                    print this help and exit\n"
          "\n"
          "Sensors: temperature (degC), power (W), voltage (V), current (A), energy (kWh, cumulative).\n"
          "SIGTERM or SIGINT disconnects and exits with status 0.\n"
          "SIGUSR1 injects an over-current fault: current reads 16.0 A and power 3680 W until SIGUSR2.\n",
          stream);
}

static bool parse_long(const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long result = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || result < min || result > max) {
        return false;
    }
    *value = result;
    return true;
}

static int parse_options(int argc, char **argv, options_t *options)
{
    enum {
        OPT_ENDPOINT = 1000, OPT_CA, OPT_CLAIM_CERT, OPT_CLAIM_KEY, OPT_SERIAL, OPT_MODEL, OPT_THING_PREFIX,
        OPT_TEMPLATE, OPT_STORAGE, OPT_RELAYS, OPT_TELEMETRY_PERIOD, OPT_CLAIM_TOKEN, OPT_OTA_PUBLIC_KEY,
        OPT_FIRMWARE_VERSION, OPT_SELF_TEST_FAIL, OPT_MISSING_SENSOR, OPT_PROVISIONING_METHOD, OPT_VERBOSE, OPT_HELP,
    };
    static const struct option long_options[] = {
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"ca", required_argument, NULL, OPT_CA},
        {"claim-cert", required_argument, NULL, OPT_CLAIM_CERT},
        {"claim-key", required_argument, NULL, OPT_CLAIM_KEY},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"model", required_argument, NULL, OPT_MODEL},
        {"thing-prefix", required_argument, NULL, OPT_THING_PREFIX},
        {"template", required_argument, NULL, OPT_TEMPLATE},
        {"storage", required_argument, NULL, OPT_STORAGE},
        {"relays", required_argument, NULL, OPT_RELAYS},
        {"telemetry-period-ms", required_argument, NULL, OPT_TELEMETRY_PERIOD},
        {"claim-token", required_argument, NULL, OPT_CLAIM_TOKEN},
        {"ota-public-key", required_argument, NULL, OPT_OTA_PUBLIC_KEY},
        {"firmware-version", required_argument, NULL, OPT_FIRMWARE_VERSION},
        {"self-test-fail", no_argument, NULL, OPT_SELF_TEST_FAIL},
        {"missing-sensor", required_argument, NULL, OPT_MISSING_SENSOR},
        {"provisioning-method", required_argument, NULL, OPT_PROVISIONING_METHOD},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };

    *options = (options_t){
        .model = "virtual-esp32",
        .thing_prefix = "sh-",
        .template_name = "SmartHomeFleetProvisioning",
        .firmware_version = "1.0.0",
        .relay_count = 2,
        .telemetry_period_ms = 60000,
        .provisioning_method = SH_PROVISIONING_METHOD_CSR,
    };
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case OPT_ENDPOINT: options->endpoint = optarg; break;
        case OPT_CA: options->ca_file = optarg; break;
        case OPT_CLAIM_CERT: options->claim_certificate_file = optarg; break;
        case OPT_CLAIM_KEY: options->claim_key_file = optarg; break;
        case OPT_SERIAL: options->serial = optarg; break;
        case OPT_MODEL: options->model = optarg; break;
        case OPT_THING_PREFIX: options->thing_prefix = optarg; break;
        case OPT_TEMPLATE: options->template_name = optarg; break;
        case OPT_STORAGE: options->storage = optarg; break;
        case OPT_CLAIM_TOKEN: options->claim_token = optarg; break;
        case OPT_OTA_PUBLIC_KEY: options->ota_public_key_file = optarg; break;
        case OPT_FIRMWARE_VERSION: options->firmware_version = optarg; break;
        case OPT_SELF_TEST_FAIL: options->self_test_fail = true; break;
        case OPT_VERBOSE: options->verbose = true; break;
        case OPT_RELAYS:
            if (!parse_long(optarg, 0, SH_MAX_RELAYS, &options->relay_count)) {
                fprintf(stderr, "virtual-esp32: invalid --relays %s: expected an integer from 0 to %d\n", optarg,
                        SH_MAX_RELAYS);
                return 2;
            }
            break;
        case OPT_TELEMETRY_PERIOD:
            if (!parse_long(optarg, SH_TELEMETRY_MIN_PERIOD_MS, 86400000L, &options->telemetry_period_ms)) {
                fprintf(stderr,
                        "virtual-esp32: invalid --telemetry-period-ms %s: expected milliseconds from %u to 86400000\n",
                        optarg, SH_TELEMETRY_MIN_PERIOD_MS);
                return 2;
            }
            break;
        case OPT_MISSING_SENSOR:
            if (options->missing_sensor_count >= MAX_MISSING_SENSORS) {
                fprintf(stderr, "virtual-esp32: --missing-sensor given more than %d times\n", MAX_MISSING_SENSORS);
                return 2;
            }
            options->missing_sensors[options->missing_sensor_count++] = optarg;
            break;
        case OPT_PROVISIONING_METHOD:
            if (strcmp(optarg, "csr") == 0) {
                options->provisioning_method = SH_PROVISIONING_METHOD_CSR;
            } else if (strcmp(optarg, "keys") == 0) {
                options->provisioning_method = SH_PROVISIONING_METHOD_KEYS_AND_CERTIFICATE;
            } else {
                fprintf(stderr, "virtual-esp32: invalid --provisioning-method %s: expected csr or keys\n", optarg);
                return 2;
            }
            break;
        case OPT_HELP: print_usage(stdout); return 0;
        default: print_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "virtual-esp32: unexpected argument %s\n", argv[optind]);
        return 2;
    }

    struct {
        const char *value;
        const char *flag;
    } required[] = {
        {options->endpoint, "--endpoint"}, {options->ca_file, "--ca"}, {options->claim_certificate_file, "--claim-cert"},
        {options->claim_key_file, "--claim-key"}, {options->serial, "--serial"}, {options->storage, "--storage"},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (required[i].value == NULL) {
            fprintf(stderr, "virtual-esp32: missing %s (see --help)\n", required[i].flag);
            return 2;
        }
    }
    if (!sh_is_valid_id(options->serial, 1, SH_SERIAL_MAX_LENGTH)) {
        fprintf(stderr, "virtual-esp32: invalid --serial %s: expected ^[A-Za-z0-9_-]{1,64}$\n", options->serial);
        return 2;
    }
    if (!sh_is_valid_version(options->firmware_version)) {
        fprintf(stderr, "virtual-esp32: invalid --firmware-version %s: expected a semantic version such as 1.0.0\n",
                options->firmware_version);
        return 2;
    }
    if (!sh_is_valid_model(options->model)) {
        fprintf(stderr, "virtual-esp32: invalid --model %s: expected ^[A-Za-z0-9._-]{1,64}$\n", options->model);
        return 2;
    }
    if (options->claim_token != NULL && !sh_is_valid_claim_token(options->claim_token)) {
        fprintf(stderr, "virtual-esp32: invalid --claim-token: expected 16 to 1024 characters of [A-Za-z0-9._-]\n");
        return 2;
    }
    return -1;
}

static char *read_text_file(const char *path, const char *flag)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "virtual-esp32: cannot open %s %s: %s\n", flag, path, strerror(errno));
        return NULL;
    }
    char *text = malloc(MAX_PEM_LENGTH + 1);
    size_t length = text != NULL ? fread(text, 1, MAX_PEM_LENGTH + 1, file) : 0;
    fclose(file);
    if (text == NULL || length == 0 || length > MAX_PEM_LENGTH) {
        fprintf(stderr, "virtual-esp32: %s %s is empty or larger than %d bytes\n", flag, path, MAX_PEM_LENGTH);
        free(text);
        return NULL;
    }
    text[length] = '\0';
    return text;
}

/* Simulated hardware. */

static const sh_sensor_descriptor_t SENSORS[] = {
    {.id = "temperature", .type = "temperature", .name = "Temperature", .unit = "°C", .has_range = true, .min = -40,
     .max = 125},
    {.id = "power", .type = "power", .name = "Power", .unit = "W", .has_range = true, .min = 0, .max = 3680},
    {.id = "voltage", .type = "voltage", .name = "Voltage", .unit = "V", .has_range = true, .min = 0, .max = 260},
    {.id = "current", .type = "current", .name = "Current", .unit = "A", .has_range = true, .min = 0, .max = 16},
    {.id = "energy", .type = "energy", .name = "Energy", .unit = "kWh", .cumulative = true},
};
#define SENSOR_COUNT (sizeof(SENSORS) / sizeof(SENSORS[0]))
#define WATTS_PER_RELAY 60.0
#define MAINS_VOLTS 230.0
/* A fault current on the 10 A relay circuits, such as a stalled motor, and the full scale of the
 * current sensor. */
#define OVER_CURRENT_AMPS 16.0

static const char *SENSOR_TAG = "sensor";

typedef struct {
    const options_t *options;
    bool over_current;
    bool relay_on[SH_MAX_RELAYS];
    double energy_kwh;
    double last_power_w;
    uint64_t last_energy_update_ms;
} hardware_t;

static uint64_t monotonic_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static void update_energy(hardware_t *hardware)
{
    uint64_t now = monotonic_now();
    double hours = (double)(now - hardware->last_energy_update_ms) / 3600000.0;
    hardware->energy_kwh += hardware->last_power_w * hours / 1000.0;
    hardware->last_energy_update_ms = now;
    double power = 0.0;
    for (long i = 0; i < hardware->options->relay_count; i++) {
        power += hardware->relay_on[i] ? WATTS_PER_RELAY : 0.0;
    }
    hardware->last_power_w = hardware->over_current ? MAINS_VOLTS * OVER_CURRENT_AMPS : power;
}

/* Applies a fault that SIGUSR1 or SIGUSR2 requested since the last call. The fault draws its
 * current whether or not a relay is on, and the energy meter counts it. */
static void apply_fault_request(hardware_t *hardware)
{
    bool requested = over_current_requested != 0;
    if (requested == hardware->over_current) {
        return;
    }
    update_energy(hardware);
    hardware->over_current = requested;
    update_energy(hardware);
    if (requested) {
        SH_LOGW(SENSOR_TAG, "over-current fault injected current=%.1fA", OVER_CURRENT_AMPS);
    } else {
        SH_LOGI(SENSOR_TAG, "fault cleared");
    }
}

static sh_status_t relay_set(void *ctx, size_t index, bool on)
{
    hardware_t *hardware = ctx;
    if (index >= (size_t)hardware->options->relay_count) {
        return SH_ERR_INVALID_ARG;
    }
    update_energy(hardware);
    hardware->relay_on[index] = on;
    update_energy(hardware);
    return SH_OK;
}

static sh_status_t sensor_read(void *ctx, size_t index, double *value)
{
    hardware_t *hardware = ctx;
    if (index >= SENSOR_COUNT) {
        return SH_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < hardware->options->missing_sensor_count; i++) {
        if (strcmp(hardware->options->missing_sensors[i], SENSORS[index].id) == 0) {
            return SH_ERR_UNAVAILABLE;
        }
    }
    update_energy(hardware);
    double seconds = (double)monotonic_now() / 1000.0;
    switch (index) {
    case 0: *value = round((21.0 + 0.5 * sin(seconds / 60.0)) * 10.0) / 10.0; break;
    case 1: *value = hardware->last_power_w; break;
    case 2: *value = MAINS_VOLTS; break;
    case 3: *value = round(hardware->last_power_w / MAINS_VOLTS * 1000.0) / 1000.0; break;
    default: *value = round(hardware->energy_kwh * 1e6) / 1e6; break;
    }
    return SH_OK;
}

static void system_restart(void *ctx)
{
    (void)ctx;
    SH_LOGI(TAG, "restarting");
    fflush(stdout);
    if (mqtt.client != NULL) {
        mosquitto_disconnect(mqtt.client);
        int socket = mosquitto_socket(mqtt.client);
        if (socket >= 0) {
            (void)fcntl(socket, F_SETFD, FD_CLOEXEC);
        }
    }
    execv("/proc/self/exe", saved_argv);
    SH_LOGE(TAG, "restart failed: execv: %s", strerror(errno));
}

static sh_status_t system_self_test(void *ctx)
{
    const hardware_t *hardware = ctx;
    if (hardware->options->self_test_fail) {
        SH_LOGW(TAG, "self-test failing as requested by --self-test-fail");
        return SH_ERR_INVALID_STATE;
    }
    return SH_OK;
}

static bool split_endpoint(const char *endpoint, char *host, size_t capacity, int *port)
{
    const char *colon = strrchr(endpoint, ':');
    long value = 0;
    if (colon == NULL || colon == endpoint || (size_t)(colon - endpoint) >= capacity ||
        !parse_long(colon + 1, 1, 65535, &value)) {
        return false;
    }
    memcpy(host, endpoint, (size_t)(colon - endpoint));
    host[colon - endpoint] = '\0';
    *port = (int)value;
    return true;
}

int main(int argc, char **argv)
{
    saved_argv = argv;
    options_t options;
    int exit_code = parse_options(argc, argv, &options);
    if (exit_code >= 0) {
        return exit_code;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh_posix_log_set_level(options.verbose ? SH_LOG_DEBUG : SH_LOG_INFO);

    char host[256];
    int port = 0;
    if (!split_endpoint(options.endpoint, host, sizeof(host), &port)) {
        fprintf(stderr, "virtual-esp32: invalid --endpoint %s: expected HOST:PORT\n", options.endpoint);
        return 2;
    }
    /* libmosquitto reports a missing CA file only as a TLS setup failure on every retry, so it
     * is checked here, where the flag can be named. */
    FILE *ca_file = fopen(options.ca_file, "rb");
    if (ca_file == NULL) {
        fprintf(stderr, "virtual-esp32: cannot open --ca %s: %s\n", options.ca_file, strerror(errno));
        return 2;
    }
    fclose(ca_file);
    char *claim_certificate = read_text_file(options.claim_certificate_file, "--claim-cert");
    char *claim_key = read_text_file(options.claim_key_file, "--claim-key");
    char *ota_public_key = options.ota_public_key_file != NULL
                               ? read_text_file(options.ota_public_key_file, "--ota-public-key")
                               : NULL;
    if (claim_certificate == NULL || claim_key == NULL ||
        (options.ota_public_key_file != NULL && ota_public_key == NULL)) {
        return 2;
    }

    static sh_ports_t ports;
    static sh_posix_storage_t storage;
    static sh_posix_ota_t ota;
    static sh_mbedtls_t crypto;
    static hardware_t hardware;
    static sh_device_t device;
    static sh_relay_descriptor_t relays[SH_MAX_RELAYS];
    static char relay_ids[SH_MAX_RELAYS][16];
    static char relay_names[SH_MAX_RELAYS][16];

    hardware.options = &options;
    hardware.last_energy_update_ms = monotonic_now();
    for (long i = 0; i < options.relay_count; i++) {
        snprintf(relay_ids[i], sizeof(relay_ids[i]), "relay%ld", i + 1);
        snprintf(relay_names[i], sizeof(relay_names[i]), "Relay %ld", i + 1);
        relays[i] = (sh_relay_descriptor_t){.id = relay_ids[i], .name = relay_names[i], .max_current_a = 10.0};
    }

    char credentials_directory[PATH_MAX];
    snprintf(credentials_directory, sizeof(credentials_directory), "%s/tls", options.storage);
    if (sh_posix_storage_init(&storage, options.storage) != SH_OK ||
        sh_posix_ota_boot(&ota, options.storage, options.firmware_version) != SH_OK ||
        sh_posix_mqtt_init(&mqtt, host, port, options.ca_file, credentials_directory) != SH_OK) {
        fprintf(stderr, "virtual-esp32: cannot use --storage %s (see the lines above)\n", options.storage);
        return 1;
    }
    if (sh_mbedtls_init(&crypto) != SH_OK) {
        fprintf(stderr, "virtual-esp32: failed to seed the random generator\n");
        return 1;
    }
    sh_posix_storage_bind(&storage, &ports.storage);
    sh_posix_clock_bind(&ports.clock);
    sh_mbedtls_bind(&crypto, &ports.crypto, &ports.random);
    ports.system = (sh_system_t){.ctx = &hardware, .restart = system_restart, .self_test = system_self_test};
    sh_posix_ota_bind(&ota, &ports.system, &ports.ota);
    sh_posix_http_bind(&ports.http);
    sh_posix_mqtt_bind(&mqtt, &ports.transport);
    ports.relays = (sh_relay_port_t){.ctx = &hardware, .set = relay_set};
    ports.sensors = (sh_sensor_port_t){.ctx = &hardware, .read = sensor_read};

    const char *running_version = sh_posix_ota_running_version(&ota);
    sh_device_config_t config = {
        .serial = options.serial,
        .model = options.model,
        .firmware_version = running_version,
        .thing_name_prefix = options.thing_prefix,
        .template_name = options.template_name,
        .provisioning_method = options.provisioning_method,
        .claim_certificate_pem = claim_certificate,
        .claim_private_key_pem = claim_key,
        .ota_public_key_pem = ota_public_key,
        .relays = relays,
        .relay_count = (size_t)options.relay_count,
        .sensors = SENSORS,
        .sensor_count = SENSOR_COUNT,
        .telemetry_period_ms = (uint32_t)options.telemetry_period_ms,
    };
    sh_status_t status = sh_device_init(&device, &config, &ports);
    if (status != SH_OK) {
        fprintf(stderr, "virtual-esp32: invalid device settings (%s): check --serial, --thing-prefix and --template\n",
                sh_status_name(status));
        return 2;
    }
    sh_posix_mqtt_set_device(&mqtt, &device);

    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    /* SA_RESTART keeps a fault signal from failing socket reads and writes with EINTR. */
    action.sa_handler = on_fault_signal;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);
    sigaction(SIGUSR2, &action, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (options.claim_token != NULL && sh_device_set_claim_token(&device, options.claim_token) != SH_OK) {
        fprintf(stderr, "virtual-esp32: failed to store --claim-token\n");
        return 1;
    }
    status = sh_device_start(&device);
    if (status != SH_OK) {
        SH_LOGE(TAG, "start failed: %s", sh_status_name(status));
        return 1;
    }
    while (!stop_requested) {
        sh_posix_mqtt_poll(&mqtt, 50);
        apply_fault_request(&hardware);
        sh_device_tick(&device);
    }

    SH_LOGI(TAG, "stopping on signal");
    sh_device_stop(&device);
    sh_posix_mqtt_free(&mqtt);
    sh_mbedtls_free(&crypto);
    free(claim_certificate);
    free(claim_key);
    free(ota_public_key);
    return 0;
}
