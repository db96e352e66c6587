#include "common/kafka.h"

#include "common/log.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Properties librdkafka documents as for one client type only (the C and P
 * columns of its CONFIGURATION.md). An operator's HERALD_KAFKA_* variable
 * naming one is applied to that type of client only: the workers are both
 * consumers and producers, and librdkafka warns at every producer built with
 * a consumer's property (and the other way round).
 */
static const char *const consumer_only[] = {"auto.commit.enable",
                                            "auto.commit.interval.ms",
                                            "auto.offset.reset",
                                            "check.crcs",
                                            "consume.callback.max.messages",
                                            "coordinator.query.interval.ms",
                                            "enable.auto.commit",
                                            "enable.auto.offset.store",
                                            "enable.partition.eof",
                                            "fetch.error.backoff.ms",
                                            "fetch.max.bytes",
                                            "fetch.message.max.bytes",
                                            "fetch.min.bytes",
                                            "fetch.wait.max.ms",
                                            "group.id",
                                            "group.instance.id",
                                            "group.protocol",
                                            "group.protocol.type",
                                            "group.remote.assignor",
                                            "heartbeat.interval.ms",
                                            "isolation.level",
                                            "max.partition.fetch.bytes",
                                            "max.poll.interval.ms",
                                            "offset.store.method",
                                            "offset.store.path",
                                            "offset.store.sync.interval.ms",
                                            "partition.assignment.strategy",
                                            "queued.max.messages.kbytes",
                                            "queued.min.messages",
                                            "session.timeout.ms",
                                            NULL};
static const char *const producer_only[] = {"acks",
                                            "batch.num.messages",
                                            "batch.size",
                                            "compression.codec",
                                            "compression.level",
                                            "compression.type",
                                            "delivery.report.only.error",
                                            "delivery.timeout.ms",
                                            "enable.gapless.guarantee",
                                            "enable.idempotence",
                                            "linger.ms",
                                            "message.send.max.retries",
                                            "message.timeout.ms",
                                            "partitioner",
                                            "queue.buffering.backpressure.threshold",
                                            "queue.buffering.max.kbytes",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.ms",
                                            "queuing.strategy",
                                            "request.required.acks",
                                            "request.timeout.ms",
                                            "retries",
                                            "sticky.partitioning.linger.ms",
                                            "transaction.timeout.ms",
                                            "transactional.id",
                                            NULL};

static bool listed(const char *const *list, const char *name)
{
    for (; *list; list++) {
        if (!strcmp(*list, name))
            return true;
    }
    return false;
}

bool kafka_property_applies(rd_kafka_type_t type, const char *name)
{
    return !listed(type == RD_KAFKA_PRODUCER ? consumer_only : producer_only, name);
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, char *errstr, size_t errstr_size)
{
    return kafka_conf_new_for(KAFKA_ANY_CLIENT, brokers, errstr, errstr_size);
}

rd_kafka_conf_t *kafka_conf_new_for(int type, const char *brokers, char *errstr, size_t errstr_size)
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
        if (type != KAFKA_ANY_CLIENT && !kafka_property_applies((rd_kafka_type_t)type, prop))
            continue;
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

int kafka_conf_set_default(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                           size_t errstr_size)
{
    static const char prefix[] = "HERALD_KAFKA_";
    char var[160];
    size_t n = strlen(name);
    if (n + sizeof prefix <= sizeof var) {
        memcpy(var, prefix, sizeof prefix - 1);
        for (size_t i = 0; i < n; i++)
            var[sizeof prefix - 1 + i] =
                name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
        var[sizeof prefix - 1 + n] = '\0';
        if (getenv(var))
            return 0; /* the operator's setting, applied by kafka_conf_new */
    }
    return kafka_conf_set(conf, name, value, errstr, errstr_size);
}

/* Sets the name, value, ..., NULL pairs of props as defaults. */
static int set_defaults(rd_kafka_conf_t *conf, const char *const *props, char *errstr,
                        size_t errstr_size)
{
    for (const char *const *p = props; p && p[0] && p[1]; p += 2) {
        if (kafka_conf_set_default(conf, p[0], p[1], errstr, errstr_size))
            return -1;
    }
    return 0;
}

/* rd_kafka_new with opaque; takes conf over (destroyed on failure). */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, void *opaque,
                              char *errstr, size_t errstr_size)
{
    if (opaque)
        rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk; /* on success rd_kafka_new owns conf */
}

rd_kafka_t *kafka_producer_new_props(const char *brokers, const char *const *props,
                                     kafka_dr_cb dr_cb, void *opaque, char *errstr,
                                     size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new_for(RD_KAFKA_PRODUCER, brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) ||
        set_defaults(conf, props, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    return client_new(RD_KAFKA_PRODUCER, conf, opaque, errstr, errstr_size);
}

rd_kafka_t *kafka_producer_new(const char *brokers, kafka_dr_cb dr_cb, void *opaque, char *errstr,
                               size_t errstr_size)
{
    static const char *const props[] = {"linger.ms", "5", NULL};
    return kafka_producer_new_props(brokers, props, dr_cb, opaque, errstr, errstr_size);
}

rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, const char *instance_id,
                               const char *const *topics, const char *const *props,
                               kafka_rebalance_cb rebalance_cb, void *opaque, char *errstr,
                               size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new_for(RD_KAFKA_CONSUMER, brokers, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.commit", "true", errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        kafka_conf_set_default(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        kafka_conf_set_default(conf, "session.timeout.ms", KAFKA_SESSION_TIMEOUT_MS, errstr,
                               errstr_size) ||
        kafka_conf_set_default(conf, "heartbeat.interval.ms", KAFKA_HEARTBEAT_MS, errstr,
                               errstr_size) ||
        (instance_id && *instance_id &&
         kafka_conf_set(conf, "group.instance.id", instance_id, errstr, errstr_size)) ||
        set_defaults(conf, props, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (rebalance_cb)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf, opaque, errstr, errstr_size);
    if (!rk)
        return NULL;
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

const char *kafka_instance_id(const char *id, char *buf, size_t size)
{
    if (id && *id) {
        snprintf(buf, size, "%s", id);
        return buf;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) || !*host)
        snprintf(host, sizeof host, "herald");
    snprintf(buf, size, "%s", host);
    return buf;
}

bool kafka_consumer_fatal(rd_kafka_t *rk, const char *instance_id)
{
    char why[512];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, why, sizeof why);
    if (!err)
        return false;
    static atomic_bool logged; /* once per process: the caller stops on it */
    if (atomic_exchange(&logged, true))
        return true;
    if (err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
        LOG_ERROR("fenced: another instance joined the consumer group with the same instance id "
                  "'%s'; give each replica its own --instance-id (HERALD_INSTANCE_ID). Stopping",
                  instance_id && *instance_id ? instance_id : "");
    else
        LOG_ERROR("consumer fatal error: %s. Stopping", why);
    return true;
}

bool kafka_rebalance_apply(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool assign,
                           bool paused)
{
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (coop)
        e = assign ? rd_kafka_incremental_assign(rk, parts)
                   : rd_kafka_incremental_unassign(rk, parts);
    else
        err = rd_kafka_assign(rk, assign ? parts : NULL);
    if (e) {
        LOG_ERROR("rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (err) {
        LOG_ERROR("rebalance: %s", rd_kafka_err2str(err));
    }
    if (assign && paused)
        rd_kafka_pause_partitions(rk, parts);
    else if (assign)
        rd_kafka_resume_partitions(rk, parts);
    return coop;
}

void kafka_pause_assigned(rd_kafka_t *rk, bool pause)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return;
    if (pause)
        rd_kafka_pause_partitions(rk, a);
    else
        rd_kafka_resume_partitions(rk, a);
    rd_kafka_topic_partition_list_destroy(a);
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
