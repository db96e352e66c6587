/* common/kafka.h configuration without a broker: Herald's defaults yield to
 * the operator's HERALD_KAFKA_* variables, fixed settings do not, and the
 * consumer and producer constructors apply both. */
#include "common/kafka.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *get(rd_kafka_conf_t *conf, const char *name, char *buf, size_t size)
{
    ck_assert_int_eq(rd_kafka_conf_get(conf, name, buf, &size), RD_KAFKA_CONF_OK);
    return buf;
}

START_TEST(defaults_yield_to_the_environment)
{
    char err[256], v[64];
    unsetenv("HERALD_KAFKA_FETCH_WAIT_MAX_MS");
    unsetenv("HERALD_KAFKA_AUTO_OFFSET_RESET");
    rd_kafka_conf_t *conf = kafka_conf_new("127.0.0.1:9", err, sizeof err);
    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(kafka_conf_set_default(conf, "fetch.wait.max.ms", "25", err, sizeof err), 0);
    ck_assert_str_eq(get(conf, "fetch.wait.max.ms", v, sizeof v), "25");
    rd_kafka_conf_destroy(conf);

    setenv("HERALD_KAFKA_FETCH_WAIT_MAX_MS", "70", 1);
    conf = kafka_conf_new("127.0.0.1:9", err, sizeof err);
    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(kafka_conf_set_default(conf, "fetch.wait.max.ms", "25", err, sizeof err), 0);
    ck_assert_str_eq(get(conf, "fetch.wait.max.ms", v, sizeof v), "70");
    /* a bad default is still named */
    ck_assert_int_eq(kafka_conf_set_default(conf, "no.such.property", "1", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no.such.property"));
    rd_kafka_conf_destroy(conf);
    unsetenv("HERALD_KAFKA_FETCH_WAIT_MAX_MS");
}
END_TEST

static int rebalances;
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)err;
    rebalances += *(int *)opaque;
    kafka_rebalance_apply(rk, parts, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false);
}

START_TEST(consumer_settings)
{
    char err[256];
    static const char *const topics[] = {"herald.test.v1", NULL};
    static const char *const props[] = {"session.timeout.ms", "7000", "auto.offset.reset", "latest",
                                        NULL};
    int one = 1;
    /* the operator's choice wins over the caller's default; fixed ones stay */
    setenv("HERALD_KAFKA_SESSION_TIMEOUT_MS", "8000", 1);
    setenv("HERALD_KAFKA_ENABLE_AUTO_OFFSET_STORE", "true", 1);
    rd_kafka_t *rk = kafka_consumer_new("127.0.0.1:9", "g-conf", "replica-1", topics, props,
                                        on_rebalance, &one, err, sizeof err);
    unsetenv("HERALD_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("HERALD_KAFKA_ENABLE_AUTO_OFFSET_STORE");
    ck_assert_msg(rk != NULL, "%s", err);
    const rd_kafka_conf_t *c = rd_kafka_conf(rk);
    char v[64];
    size_t n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(c, "session.timeout.ms", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "8000");
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(c, "auto.offset.reset", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "largest"); /* librdkafka's name for latest */
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(c, "enable.auto.offset.store", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "false");
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(c, "group.id", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "g-conf");
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(c, "group.instance.id", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "replica-1");
    n = sizeof v; /* Herald's default, not overridden here */
    ck_assert_int_eq(rd_kafka_conf_get(c, "heartbeat.interval.ms", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, KAFKA_HEARTBEAT_MS);
    ck_assert_ptr_eq(rd_kafka_opaque(rk), &one);
    rd_kafka_destroy(rk);

    /* no instance id: dynamic membership, Herald's session timeout */
    rk = kafka_consumer_new("127.0.0.1:9", "g-conf", NULL, topics, NULL, NULL, NULL, err,
                            sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(rk), "session.timeout.ms", v, &n),
                     RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, KAFKA_SESSION_TIMEOUT_MS);
    n = sizeof v;
    /* unset: librdkafka answers "unknown" for a string property never set */
    ck_assert_int_ne(rd_kafka_conf_get(rd_kafka_conf(rk), "group.instance.id", v, &n),
                     RD_KAFKA_CONF_OK);
    rd_kafka_destroy(rk);

    /* a bad property is named, nothing is created */
    static const char *const bad[] = {"no.such.property", "1", NULL};
    rk =
        kafka_consumer_new("127.0.0.1:9", "g-conf", NULL, topics, bad, NULL, NULL, err, sizeof err);
    ck_assert_ptr_null(rk);
    ck_assert_ptr_nonnull(strstr(err, "no.such.property"));
}
END_TEST

/* Fenced (another member with our group.instance.id): the consumer is
 * unusable and the worker must stop. */
START_TEST(consumer_fenced)
{
    char err[256];
    static const char *const topics[] = {"herald.test.v1", NULL};
    rd_kafka_t *rk = kafka_consumer_new("127.0.0.1:9", "g-conf", "replica-2", topics, NULL, NULL,
                                        NULL, err, sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    ck_assert(!kafka_consumer_fatal(rk, "replica-2"));
    ck_assert_int_eq(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, "test"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert(kafka_consumer_fatal(rk, "replica-2"));
    ck_assert(kafka_consumer_fatal(rk, "replica-2")); /* stays fatal (logged once) */
    rd_kafka_destroy(rk);
}
END_TEST

START_TEST(producer_settings)
{
    char err[256], v[64];
    unsetenv("HERALD_KAFKA_LINGER_MS");
    rd_kafka_t *p = kafka_producer_new("127.0.0.1:9", NULL, NULL, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    size_t n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(p), "linger.ms", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "5");
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(p), "enable.idempotence", v, &n),
                     RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "true");
    rd_kafka_destroy(p);
    static const char *const props[] = {"linger.ms", "0", NULL};
    setenv("HERALD_KAFKA_LINGER_MS", "3", 1);
    p = kafka_producer_new_props("127.0.0.1:9", props, NULL, NULL, err, sizeof err);
    unsetenv("HERALD_KAFKA_LINGER_MS");
    ck_assert_msg(p != NULL, "%s", err);
    n = sizeof v;
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(p), "linger.ms", v, &n), RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "3");
    rd_kafka_destroy(p);
}
END_TEST

/* One environment for a worker's consumer and its producers: a property
 * librdkafka documents for one type only goes to that type only (librdkafka
 * would warn about it at every producer); the others go to both. */
START_TEST(type_only_properties_go_to_their_type)
{
    char err[256], v[64];
    setenv("HERALD_KAFKA_SESSION_TIMEOUT_MS", "9000", 1);
    setenv("HERALD_KAFKA_LINGER_MS", "7", 1);
    setenv("HERALD_KAFKA_SOCKET_TIMEOUT_MS", "12345", 1);
    rd_kafka_conf_t *prod = kafka_conf_new_for(RD_KAFKA_PRODUCER, "127.0.0.1:9", err, sizeof err);
    rd_kafka_conf_t *cons = kafka_conf_new_for(RD_KAFKA_CONSUMER, "127.0.0.1:9", err, sizeof err);
    rd_kafka_conf_t *any = kafka_conf_new("127.0.0.1:9", err, sizeof err);
    unsetenv("HERALD_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("HERALD_KAFKA_LINGER_MS");
    unsetenv("HERALD_KAFKA_SOCKET_TIMEOUT_MS");
    ck_assert_ptr_nonnull(prod);
    ck_assert_ptr_nonnull(cons);
    ck_assert_ptr_nonnull(any);
    ck_assert_str_eq(get(prod, "session.timeout.ms", v, sizeof v), "45000"); /* the default */
    ck_assert_str_eq(get(prod, "linger.ms", v, sizeof v), "7");
    ck_assert_str_eq(get(prod, "socket.timeout.ms", v, sizeof v), "12345");
    ck_assert_str_eq(get(cons, "session.timeout.ms", v, sizeof v), "9000");
    ck_assert_str_eq(get(cons, "linger.ms", v, sizeof v), "5"); /* librdkafka's default */
    ck_assert_str_eq(get(cons, "socket.timeout.ms", v, sizeof v), "12345");
    ck_assert_str_eq(get(any, "session.timeout.ms", v, sizeof v), "9000");
    ck_assert_str_eq(get(any, "linger.ms", v, sizeof v), "7");
    rd_kafka_conf_destroy(prod);
    rd_kafka_conf_destroy(cons);
    rd_kafka_conf_destroy(any);
    ck_assert(!kafka_property_applies(RD_KAFKA_PRODUCER, "group.id"));
    ck_assert(!kafka_property_applies(RD_KAFKA_CONSUMER, "enable.idempotence"));
    ck_assert(kafka_property_applies(RD_KAFKA_CONSUMER, "security.protocol"));
}
END_TEST

TESTLIB_MAIN("kafka_conf", "conf", defaults_yield_to_the_environment, consumer_settings,
             consumer_fenced, producer_settings, type_only_properties_go_to_their_type)
