#include "common/kafka.h"

#include "common/log.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    if (level <= 3)
        LOG_ERROR("kafka %s: %s", fac, buf);
    else if (level == 4)
        LOG_WARN("kafka %s: %s", fac, buf);
    else if (level <= 6)
        LOG_INFO("kafka %s: %s", fac, buf);
    else
        LOG_DEBUG("kafka %s: %s", fac, buf);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s: %s", name, err);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size))
        goto fail;
    static const char prefix[] = "HERALD_KAFKA_";
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1))
            continue;
        const char *name = *e + sizeof prefix - 1;
        const char *eq = strchr(name, '=');
        if (!eq || !strncmp(name, "BROKERS=", 8))
            continue;
        char prop[128];
        size_t n = (size_t)(eq - name);
        if (n == 0 || n >= sizeof prop)
            continue;
        for (size_t i = 0; i < n; i++)
            prop[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
        prop[n] = '\0';
        if (kafka_conf_set(conf, prop, eq + 1, errstr, errstr_size)) {
            /* Name the variable, not just the property, but never the value:
             * it may be a SASL password (librdkafka's own message quotes it). */
            char cur[8];
            size_t curlen = sizeof cur;
            bool known = rd_kafka_conf_get(conf, prop, cur, &curlen) != RD_KAFKA_CONF_UNKNOWN;
            snprintf(errstr, errstr_size, "HERALD_KAFKA_%.*s: %s librdkafka property %s", (int)n,
                     name, known ? "invalid value for" : "no such", prop);
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_producer_new(const char *brokers,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) ||
        kafka_conf_set(conf, "linger.ms", "5", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (opaque)
        rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk; /* on success rd_kafka_new owns conf */
}

rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                               char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    size_t n = 0;
    while (topics[n])
        n++;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

rd_kafka_resp_err_t kafka_deadletter_produce(rd_kafka_t *producer, const rd_kafka_message_t *msg,
                                             const char *reason, void *msg_opaque)
{
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)msg->partition);
    snprintf(off, sizeof off, "%lld", (long long)msg->offset);
    const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(hdrs, "herald.source.topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "herald.source.partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "herald.source.offset", -1, off, -1);
    rd_kafka_header_add(hdrs, "herald.reason", -1, reason, -1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(TOPIC_DEADLETTER), RD_KAFKA_V_KEY(msg->key, msg->key_len),
        RD_KAFKA_V_VALUE(msg->payload, msg->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(hdrs); /* only owned by librdkafka on success */
    return err;
}

int kafka_deadletter(rd_kafka_t *producer, const rd_kafka_message_t *msg, const char *reason)
{
    const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
    rd_kafka_resp_err_t err = kafka_deadletter_produce(producer, msg, reason, NULL);
    if (err) {
        LOG_ERROR("dead-letter %s [%d] @%lld: %s", topic, (int)msg->partition,
                  (long long)msg->offset, rd_kafka_err2str(err));
        return -1;
    }
    LOG_WARN("dead-lettered %s [%d] @%lld: %s", topic, (int)msg->partition, (long long)msg->offset,
             reason);
    return 0;
}
