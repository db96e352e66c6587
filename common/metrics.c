#include "common/metrics.h"

#include "common/strbuf.h"
#include "common/util.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- types */

typedef enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

/* One labelled time series. Histogram bucket counts are kept per bucket (not
 * cumulative) so an observation touches one slot; rendering accumulates. */
typedef struct series {
    struct series *next; /* hash chain */
    uint32_t hash;
    char *key;     /* canonical label values: all of them, joined by '|' */
    char **values; /* nvalues values (point into one allocation) */
    size_t nvalues;
    double value; /* counter, gauge */
    uint64_t *buckets;
    uint64_t count;
    double sum;
} series;

typedef struct metric {
    kind kind;
    char *name;
    char *help;
    size_t nlabels;
    char **labelnames;
    char *labelnames_joined; /* "a,b": compared on re-declaration */
    double *bounds;          /* histogram upper bounds, +Inf implied */
    size_t nbounds;
    pthread_mutex_t mu; /* guards the series table and every value in it */
    series **table;
    size_t table_size; /* power of two */
    size_t nseries;
} metric;

struct metrics_counter {
    metric m;
};
struct metrics_gauge {
    metric m;
};
struct metrics_histogram {
    metric m;
};

struct metrics_registry {
    pthread_mutex_t mu; /* guards the metric list, not the metrics */
    metric **metrics;
    size_t n, cap;
};

static const double default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

/* ------------------------------------------------------------- helpers */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("metrics: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static bool valid_name(const char *s, bool allow_colon)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (allow_colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Splits s at '|' into exactly n values (the last takes the rest; missing
 * ones are ""). Returns a malloc'd array whose strings live in the same
 * block. */
static char **split_values(const char *s, size_t n)
{
    size_t len = s ? strlen(s) : 0;
    char **v = xmalloc(n * sizeof(char *) + len + n + 1);
    char *p = (char *)(v + n);
    const char *cur = s ? s : "";
    for (size_t i = 0; i < n; i++) {
        const char *bar = (i + 1 < n) ? strchr(cur, '|') : NULL;
        size_t l = bar ? (size_t)(bar - cur) : strlen(cur);
        memcpy(p, cur, l);
        p[l] = '\0';
        v[i] = p;
        p += l + 1;
        cur = bar ? bar + 1 : cur + l;
    }
    return v;
}

static char *join_values(char **values, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(values[i]) + 1;
    char *k = xmalloc(len), *p = k;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = '|';
        size_t l = strlen(values[i]);
        memcpy(p, values[i], l);
        p += l;
    }
    *p = '\0';
    return k;
}

/* ------------------------------------------------------------ registry */

static metrics_registry *default_registry;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_registry = metrics_registry_new();
}

metrics_registry *metrics_default_registry(void)
{
    pthread_once(&default_once, default_init);
    return default_registry;
}

metrics_registry *metrics_registry_new(void)
{
    metrics_registry *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void series_destroy(series *s)
{
    free(s->key);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void metric_destroy(metric *m)
{
    for (size_t i = 0; i < m->table_size; i++) {
        series *s = m->table[i];
        while (s) {
            series *next = s->next;
            series_destroy(s);
            s = next;
        }
    }
    free(m->table);
    free(m->name);
    free(m->help);
    free(m->labelnames);
    free(m->labelnames_joined);
    free(m->bounds);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_registry_destroy(metrics_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        metric_destroy(reg->metrics[i]);
    free(reg->metrics);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

static series *series_find(metric *m, const char *key, uint32_t h)
{
    for (series *s = m->table[h & (m->table_size - 1)]; s; s = s->next)
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

static void table_grow(metric *m)
{
    size_t nsize = m->table_size * 2;
    series **nt = xcalloc(nsize, sizeof *nt);
    for (size_t i = 0; i < m->table_size; i++) {
        series *s = m->table[i];
        while (s) {
            series *next = s->next;
            s->next = nt[s->hash & (nsize - 1)];
            nt[s->hash & (nsize - 1)] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = nt;
    m->table_size = nsize;
}

/* Finds or creates the series for labels. Called with m->mu held. The fast
 * path (well-formed labels, series exists) is one hash and one strcmp. */
/* The series of labels ("a|b", or a shorter non-canonical "a"), or NULL:
 * reading never creates one, so a value looked at is not exported as 0. */
static series *series_lookup(metric *m, const char *labels)
{
    if (m->nlabels == 0 || !labels)
        labels = "";
    series *s = series_find(m, labels, hash_str(labels));
    if (s)
        return s;
    char **values = split_values(labels, m->nlabels);
    char *key = join_values(values, m->nlabels);
    if (strcmp(key, labels) != 0)
        s = series_find(m, key, hash_str(key)); /* not canonical: "a" for two labels */
    free(values);
    free(key);
    return s;
}

static series *series_get(metric *m, const char *labels)
{
    series *s = series_lookup(m, labels);
    if (s)
        return s;
    if (m->nlabels == 0 || !labels)
        labels = "";
    s = xcalloc(1, sizeof *s);
    s->values = split_values(labels, m->nlabels);
    s->key = join_values(s->values, m->nlabels);
    s->hash = hash_str(s->key);
    s->nvalues = m->nlabels;
    if (m->kind == KIND_HISTOGRAM)
        s->buckets = xcalloc(m->nbounds + 1, sizeof(uint64_t));
    if (m->nseries + 1 > m->table_size)
        table_grow(m);
    s->next = m->table[s->hash & (m->table_size - 1)];
    m->table[s->hash & (m->table_size - 1)] = s;
    m->nseries++;
    return s;
}

static metric *declare(metrics_registry *reg, kind k, const char *name, const char *help,
                       const char *labelnames, const double *bounds, size_t nbounds)
{
    if (!reg)
        reg = metrics_default_registry();
    if (!valid_name(name, true))
        die("invalid metric name \"%s\"", name ? name : "(null)");
    if (!labelnames)
        labelnames = "";
    if (k == KIND_HISTOGRAM && (!bounds || nbounds == 0)) {
        bounds = default_bounds;
        nbounds = ARRAY_LEN(default_bounds);
    }
    for (size_t i = 0; k == KIND_HISTOGRAM && i < nbounds; i++)
        if (isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            die("histogram %s: buckets must be strictly increasing", name);

    /* Label names: comma-separated, each a valid name, none reserved. */
    size_t nl = 0;
    char **names = NULL;
    if (*labelnames) {
        nl = 1;
        for (const char *p = labelnames; *p; p++)
            nl += *p == ',';
        size_t ll = strlen(labelnames);
        names = xmalloc(nl * sizeof(char *) + ll + 1);
        char *buf = (char *)(names + nl);
        memcpy(buf, labelnames, ll + 1);
        size_t i = 0;
        for (char *tok = buf;; tok++) {
            names[i++] = tok;
            tok = strchr(tok, ',');
            if (!tok)
                break;
            *tok = '\0';
        }
        for (i = 0; i < nl; i++) {
            if (!valid_name(names[i], false) || strncmp(names[i], "__", 2) == 0 ||
                (k == KIND_HISTOGRAM && strcmp(names[i], "le") == 0))
                die("metric %s: invalid label name \"%s\"", name, names[i]);
            for (size_t j = 0; j < i; j++)
                if (strcmp(names[i], names[j]) == 0)
                    die("metric %s: label \"%s\" given twice", name, names[i]);
        }
    }

    pthread_mutex_lock(&reg->mu);
    for (size_t i = 0; i < reg->n; i++) {
        metric *m = reg->metrics[i];
        if (strcmp(m->name, name) != 0)
            continue;
        bool same =
            m->kind == k && strcmp(m->labelnames_joined, labelnames) == 0 &&
            m->nbounds == (k == KIND_HISTOGRAM ? nbounds : 0) &&
            (k != KIND_HISTOGRAM || memcmp(m->bounds, bounds, nbounds * sizeof(double)) == 0);
        pthread_mutex_unlock(&reg->mu);
        if (!same)
            die("metric %s declared twice with different type, labels or buckets", name);
        free(names);
        return m;
    }
    metric *m = xcalloc(1, sizeof *m);
    m->kind = k;
    m->name = xstrdup(name);
    m->help = xstrdup(help ? help : "");
    m->nlabels = nl;
    m->labelnames = names;
    m->labelnames_joined = xstrdup(labelnames);
    if (k == KIND_HISTOGRAM) {
        m->bounds = xmalloc(nbounds * sizeof(double));
        memcpy(m->bounds, bounds, nbounds * sizeof(double));
        m->nbounds = nbounds;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->table_size = 16;
    m->table = xcalloc(m->table_size, sizeof *m->table);
    if (nl == 0)
        series_get(m, ""); /* an unlabelled metric shows 0 from the start */
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 16;
        reg->metrics = xrealloc(reg->metrics, reg->cap * sizeof *reg->metrics);
    }
    reg->metrics[reg->n++] = m;
    pthread_mutex_unlock(&reg->mu);
    return m;
}

/* --------------------------------------------------------- declaration */

metrics_counter *metrics_counter_new_in(metrics_registry *reg, const char *name, const char *help,
                                        const char *labelnames)
{
    return (metrics_counter *)declare(reg, KIND_COUNTER, name, help, labelnames, NULL, 0);
}

metrics_gauge *metrics_gauge_new_in(metrics_registry *reg, const char *name, const char *help,
                                    const char *labelnames)
{
    return (metrics_gauge *)declare(reg, KIND_GAUGE, name, help, labelnames, NULL, 0);
}

metrics_histogram *metrics_histogram_new_in(metrics_registry *reg, const char *name,
                                            const char *help, const char *labelnames,
                                            const double *buckets, size_t nbuckets)
{
    return (metrics_histogram *)declare(reg, KIND_HISTOGRAM, name, help, labelnames, buckets,
                                        nbuckets);
}

metrics_counter *metrics_counter_new(const char *name, const char *help, const char *labelnames)
{
    return metrics_counter_new_in(NULL, name, help, labelnames);
}

metrics_gauge *metrics_gauge_new(const char *name, const char *help, const char *labelnames)
{
    return metrics_gauge_new_in(NULL, name, help, labelnames);
}

metrics_histogram *metrics_histogram_new(const char *name, const char *help, const char *labelnames,
                                         const double *buckets, size_t nbuckets)
{
    return metrics_histogram_new_in(NULL, name, help, labelnames, buckets, nbuckets);
}

void metrics_buckets_exponential(double start, double factor, size_t count, double *out)
{
    if (count > 64)
        count = 64;
    double v = start;
    for (size_t i = 0; i < count; i++) {
        out[i] = v;
        v *= factor;
    }
}

/* ------------------------------------------------------------- updates */

void metrics_counter_add(metrics_counter *c, const char *labels, double v)
{
    if (!c || !(v >= 0))
        return;
    pthread_mutex_lock(&c->m.mu);
    series_get(&c->m, labels)->value += v;
    pthread_mutex_unlock(&c->m.mu);
}

void metrics_counter_inc(metrics_counter *c, const char *labels)
{
    metrics_counter_add(c, labels, 1);
}

static double value_of(metric *m, const char *labels)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    const series *s = series_lookup(m, labels);
    double v = s ? s->value : 0;
    pthread_mutex_unlock(&m->mu);
    return v;
}

double metrics_counter_value(metrics_counter *c, const char *labels)
{
    return c ? value_of(&c->m, labels) : 0;
}

void metrics_gauge_set(metrics_gauge *g, const char *labels, double v)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->m.mu);
    series_get(&g->m, labels)->value = v;
    pthread_mutex_unlock(&g->m.mu);
}

void metrics_gauge_add(metrics_gauge *g, const char *labels, double v)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->m.mu);
    series_get(&g->m, labels)->value += v;
    pthread_mutex_unlock(&g->m.mu);
}

void metrics_gauge_dec(metrics_gauge *g, const char *labels)
{
    metrics_gauge_add(g, labels, -1);
}

double metrics_gauge_value(metrics_gauge *g, const char *labels)
{
    return g ? value_of(&g->m, labels) : 0;
}

void metrics_histogram_observe(metrics_histogram *h, const char *labels, double v)
{
    if (!h || isnan(v))
        return;
    metric *m = &h->m;
    /* Binary search for the first bound >= v; past the last one is +Inf. */
    size_t lo = 0, hi = m->nbounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    pthread_mutex_lock(&m->mu);
    series *s = series_get(m, labels);
    s->buckets[lo]++;
    s->count++;
    s->sum += v;
    pthread_mutex_unlock(&m->mu);
}

/* ----------------------------------------------------------- rendering */

/* HELP text escapes backslash and newline; label values also the quote. */
static void sb_escaped(strbuf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            strbuf_add(b, "\\\\", 2);
        else if (*s == '\n')
            strbuf_add(b, "\\n", 2);
        else if (quote && *s == '"')
            strbuf_add(b, "\\\"", 2);
        else
            strbuf_add(b, s, 1);
    }
}

/* Shortest text that reads back as the same double; Prometheus spellings
 * for the special values. */
static void fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(buf, size, "0");
    } else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, size, "%.17g", v);
    }
}

static void sb_double(strbuf *b, double v)
{
    char buf[64];
    fmt_double(buf, sizeof buf, v);
    strbuf_adds(b, buf);
}

static void sb_u64(strbuf *b, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    strbuf_adds(b, buf);
}

/* name{a="x",b="y"[,le="..."]} */
static void sb_series_name(strbuf *b, const metric *m, const char *suffix, const series *s,
                           const char *le)
{
    strbuf_adds(b, m->name);
    strbuf_adds(b, suffix);
    if (m->nlabels == 0 && !le)
        return;
    strbuf_add(b, "{", 1);
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            strbuf_add(b, ",", 1);
        strbuf_adds(b, m->labelnames[i]);
        strbuf_add(b, "=\"", 2);
        sb_escaped(b, s->values[i], true);
        strbuf_add(b, "\"", 1);
    }
    if (le) {
        if (m->nlabels)
            strbuf_add(b, ",", 1);
        strbuf_adds(b, "le=\"");
        strbuf_adds(b, le);
        strbuf_add(b, "\"", 1);
    }
    strbuf_add(b, "}", 1);
}

static int cmp_series(const void *a, const void *b)
{
    const series *x = *(const series *const *)a, *y = *(const series *const *)b;
    for (size_t i = 0; i < x->nvalues; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static int cmp_metric(const void *a, const void *b)
{
    return strcmp((*(metric *const *)a)->name, (*(metric *const *)b)->name);
}

/* Copies of one series' numbers taken under the metric's lock, so the text
 * is built without holding it. */
typedef struct snap {
    const series *s; /* only key/values used after unlock: they never change */
    double value, sum;
    uint64_t count;
    uint64_t *buckets;
} snap;

static void render_metric(strbuf *b, metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    strbuf_adds(b, "# HELP ");
    strbuf_adds(b, m->name);
    strbuf_add(b, " ", 1);
    sb_escaped(b, m->help, false);
    strbuf_adds(b, "\n# TYPE ");
    strbuf_adds(b, m->name);
    strbuf_add(b, " ", 1);
    strbuf_adds(b, type_names[m->kind]);
    strbuf_add(b, "\n", 1);

    pthread_mutex_lock(&m->mu);
    size_t n = m->nseries;
    series **list = xmalloc((n ? n : 1) * sizeof *list);
    size_t k = 0;
    for (size_t i = 0; i < m->table_size; i++)
        for (series *s = m->table[i]; s; s = s->next)
            list[k++] = s;
    snap *snaps = xcalloc(n ? n : 1, sizeof *snaps);
    qsort(list, n, sizeof *list, cmp_series);
    for (size_t i = 0; i < n; i++) {
        snaps[i].s = list[i];
        snaps[i].value = list[i]->value;
        snaps[i].sum = list[i]->sum;
        snaps[i].count = list[i]->count;
        if (m->kind == KIND_HISTOGRAM) {
            snaps[i].buckets = xmalloc((m->nbounds + 1) * sizeof(uint64_t));
            memcpy(snaps[i].buckets, list[i]->buckets, (m->nbounds + 1) * sizeof(uint64_t));
        }
    }
    pthread_mutex_unlock(&m->mu);

    for (size_t i = 0; i < n; i++) {
        const snap *sn = &snaps[i];
        if (m->kind != KIND_HISTOGRAM) {
            sb_series_name(b, m, "", sn->s, NULL);
            strbuf_add(b, " ", 1);
            sb_double(b, sn->value);
            strbuf_add(b, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (size_t j = 0; j <= m->nbounds; j++) {
            char le[64];
            if (j < m->nbounds)
                fmt_double(le, sizeof le, m->bounds[j]);
            else
                snprintf(le, sizeof le, "+Inf");
            cum += sn->buckets[j];
            sb_series_name(b, m, "_bucket", sn->s, le);
            strbuf_add(b, " ", 1);
            sb_u64(b, cum);
            strbuf_add(b, "\n", 1);
        }
        sb_series_name(b, m, "_sum", sn->s, NULL);
        strbuf_add(b, " ", 1);
        sb_double(b, sn->sum);
        strbuf_add(b, "\n", 1);
        sb_series_name(b, m, "_count", sn->s, NULL);
        strbuf_add(b, " ", 1);
        sb_u64(b, sn->count);
        strbuf_add(b, "\n", 1);
        free(snaps[i].buckets);
    }
    free(snaps);
    free(list);
}

char *metrics_render(metrics_registry *reg, size_t *len)
{
    if (!reg)
        reg = metrics_default_registry();
    strbuf b = {0};
    pthread_mutex_lock(&reg->mu);
    size_t n = reg->n;
    metric **list = xmalloc((n ? n : 1) * sizeof *list);
    if (n)
        memcpy(list, reg->metrics, n * sizeof *list);
    pthread_mutex_unlock(&reg->mu);
    /* Metrics are never removed while the registry lives, so the copied
     * pointers stay valid without the registry lock. */
    qsort(list, n, sizeof *list, cmp_metric);
    for (size_t i = 0; i < n; i++)
        render_metric(&b, list[i]);
    free(list);
    if (len)
        *len = b.len;
    return strbuf_take(&b);
}
