/* Relay controller: validation, duplicates, expiry and acknowledgements. */
#include <stdio.h>
#include <string.h>

#include "fakes.h"
#include "smarthome/sh_relay.h"

static const sh_relay_descriptor_t RELAYS[] = {{.id = "relay1"}, {.id = "relay2"}};
static const uint64_t NOW = 1764892860000ULL;

typedef struct {
    fake_relays_t hardware;
    sh_relay_port_t port;
    sh_relay_controller_t controller;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    fixture->port = (sh_relay_port_t){.ctx = &fixture->hardware};
    fake_platform_t *platform = fake_platform_create();
    fixture->port.set = platform->ports.relays.set;
    fake_platform_destroy(platform);
    assert_int_equal(sh_relay_controller_init(&fixture->controller, RELAYS, 2, &fixture->port), SH_OK);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static sh_relay_outcome_t handle(fixture_t *fixture, const char *command_id, const char *relay, const char *state,
                                 uint64_t expires_at, const uint64_t *now)
{
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"commandId\":\"%s\",\"relay\":\"%s\",\"state\":\"%s\",\"expiresAt\":%llu}",
             command_id, relay, state, (unsigned long long)expires_at);
    sh_relay_outcome_t outcome;
    assert_int_equal(sh_relay_controller_handle_command(&fixture->controller, payload, strlen(payload), now, &outcome),
                     SH_OK);
    return outcome;
}

static void test_RelayHandleCommand_AppliesAndAcknowledges(void **state)
{
    fixture_t *fixture = *state;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000001", "relay2", "ON", NOW + 10000, &NOW);
    assert_true(outcome.acknowledge);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_APPLIED);
    assert_int_equal(outcome.state, SH_RELAY_ON);
    assert_string_equal(outcome.relay, "relay2");
    assert_string_equal(outcome.command_id, "cmd-00000001");
    assert_true(fixture->hardware.states[1]);
    assert_false(fixture->hardware.states[0]);
}

static void test_RelayHandleCommand_DropsDuplicate(void **state)
{
    fixture_t *fixture = *state;
    (void)handle(fixture, "cmd-00000001", "relay1", "ON", NOW + 10000, &NOW);
    unsigned switches = fixture->hardware.set_count;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000001", "relay1", "OFF", NOW + 10000, &NOW);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_DUPLICATE);
    assert_int_equal(outcome.state, SH_RELAY_ON); /* the current state, not the repeated request */
    assert_int_equal(fixture->hardware.set_count, switches);
    assert_true(fixture->hardware.states[0]);
}

static void test_RelayHandleCommand_DuplicateAfterExpiryStaysDuplicate(void **state)
{
    fixture_t *fixture = *state;
    (void)handle(fixture, "cmd-00000001", "relay1", "ON", NOW + 10, &NOW);
    uint64_t later = NOW + 60000;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000001", "relay1", "ON", NOW + 10, &later);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_DUPLICATE);
}

static void test_RelayHandleCommand_DropsExpired(void **state)
{
    fixture_t *fixture = *state;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000002", "relay1", "ON", NOW, &NOW);
    assert_true(outcome.acknowledge);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_EXPIRED);
    assert_int_equal(outcome.state, SH_RELAY_OFF);
    assert_int_equal(fixture->hardware.set_count, 2); /* only the two switches at init */
    assert_string_equal(outcome.reason, "expiresAt 1764892860000 is in the past");
}

static void test_RelayHandleCommand_RejectsWithoutClock(void **state)
{
    fixture_t *fixture = *state;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000003", "relay1", "ON", NOW + 10000, NULL);
    assert_true(outcome.acknowledge);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_REJECTED);
    assert_false(fixture->hardware.states[0]);
}

static void test_RelayHandleCommand_UnknownRelayNotAcknowledged(void **state)
{
    fixture_t *fixture = *state;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000004", "relay9", "ON", NOW + 10000, &NOW);
    assert_false(outcome.acknowledge);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_REJECTED);
}

static void test_RelayHandleCommand_InvalidStateRejectedWithAck(void **state)
{
    fixture_t *fixture = *state;
    const char *payload = "{\"commandId\":\"cmd-00000005\",\"relay\":\"relay1\",\"state\":true,\"expiresAt\":1}";
    sh_relay_outcome_t outcome;
    assert_int_equal(sh_relay_controller_handle_command(&fixture->controller, payload, strlen(payload), &NOW, &outcome),
                     SH_OK);
    assert_true(outcome.acknowledge);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_REJECTED);
    assert_string_equal(outcome.command_id, "cmd-00000005");
    assert_int_equal(outcome.state, SH_RELAY_OFF);

    const char *truncated = "{\"commandId\":\"cmd-00000006\",\"relay\":\"relay1\",\"sta";
    assert_int_equal(
        sh_relay_controller_handle_command(&fixture->controller, truncated, strlen(truncated), &NOW, &outcome), SH_OK);
    assert_false(outcome.acknowledge);
}

static void test_RelayHandleCommand_OutputFailureRejected(void **state)
{
    fixture_t *fixture = *state;
    fixture->hardware.fail = true;
    sh_relay_outcome_t outcome = handle(fixture, "cmd-00000007", "relay1", "ON", NOW + 10000, &NOW);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_REJECTED);
    assert_int_equal(outcome.state, SH_RELAY_OFF);
    fixture->hardware.fail = false;
    /* The failed command was not remembered, so a redelivery is applied. */
    outcome = handle(fixture, "cmd-00000007", "relay1", "ON", NOW + 10000, &NOW);
    assert_int_equal(outcome.result, SH_RELAY_RESULT_APPLIED);
}

static void test_DedupRing_EvictsOldestWhenFull(void **state)
{
    (void)state;
    sh_dedup_t dedup;
    sh_dedup_init(&dedup);
    char id[32];
    for (int i = 0; i < SH_DEDUP_CAPACITY + 5; i++) {
        snprintf(id, sizeof(id), "cmd-%08d", i);
        sh_dedup_remember(&dedup, id);
    }
    assert_int_equal(dedup.count, SH_DEDUP_CAPACITY);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "cmd-%08d", i);
        assert_false(sh_dedup_contains(&dedup, id));
    }
    for (int i = 5; i < SH_DEDUP_CAPACITY + 5; i++) {
        snprintf(id, sizeof(id), "cmd-%08d", i);
        assert_true(sh_dedup_contains(&dedup, id));
    }
}

static void test_RelayControllerInit_RejectsBadDescriptors(void **state)
{
    fixture_t *fixture = *state;
    sh_relay_controller_t controller;
    sh_relay_descriptor_t bad = {.id = "relay 1"};
    assert_int_equal(sh_relay_controller_init(&controller, &bad, 1, &fixture->port), SH_ERR_INVALID_ARG);
    assert_int_equal(sh_relay_controller_init(&controller, RELAYS, SH_MAX_RELAYS + 1, &fixture->port),
                     SH_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_AppliesAndAcknowledges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_DropsDuplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_DuplicateAfterExpiryStaysDuplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_DropsExpired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_RejectsWithoutClock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_UnknownRelayNotAcknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_InvalidStateRejectedWithAck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_RelayHandleCommand_OutputFailureRejected, setup, teardown),
        cmocka_unit_test(test_DedupRing_EvictsOldestWhenFull),
        cmocka_unit_test_setup_teardown(test_RelayControllerInit_RejectsBadDescriptors, setup, teardown),
    };
    SH_RUN_TESTS(tests);
}
