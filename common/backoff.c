#include "common/backoff.h"

#include <stdlib.h>
#include <sys/random.h>

void backoff_policy_default(backoff_policy *p)
{
    p->base_ms = BACKOFF_DEFAULT_BASE_MS;
    p->cap_ms = BACKOFF_DEFAULT_CAP_MS;
    p->max_age_ms = BACKOFF_DEFAULT_MAX_AGE_MS;
}

int64_t backoff_ceiling_ms(const backoff_policy *p, int attempt)
{
    int64_t base = p->base_ms > 0 ? p->base_ms : 1;
    int64_t cap = p->cap_ms >= base ? p->cap_ms : base;
    if (attempt < 1)
        attempt = 1;
    int64_t c = base;
    /* Doubling stops at the cap, so no shift can overflow. */
    for (int i = 1; i < attempt && c < cap; i++)
        c = c > cap / 2 ? cap : c * 2;
    return c < cap ? c : cap;
}

int64_t backoff_delay_ms(const backoff_policy *p, int attempt, double u)
{
    if (!(u >= 0.0)) /* also catches NaN */
        u = 0.0;
    if (u >= 1.0)
        u = 0.999999999;
    int64_t ceiling = backoff_ceiling_ms(p, attempt);
    int64_t d = (int64_t)((double)ceiling * u);
    return d < 0 ? 0 : d > ceiling ? ceiling : d;
}

double backoff_random(void)
{
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = ((uint64_t)rand() << 32) ^ (uint64_t)rand();
    return (double)(r >> 11) / 9007199254740992.0; /* 53 random bits / 2^53 */
}

bool backoff_next(const backoff_policy *p, int attempts, int64_t created_ms, int64_t now_ms,
                  double u, int64_t *due_ms)
{
    if (now_ms - created_ms >= p->max_age_ms)
        return false;
    int64_t due = now_ms + backoff_delay_ms(p, attempts, u);
    /* The last try happens at the deadline rather than not at all. */
    if (due - created_ms > p->max_age_ms)
        due = created_ms + p->max_age_ms;
    *due_ms = due;
    return true;
}
