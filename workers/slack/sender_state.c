/*
 * herald-slack's bottom floor (sender_state.h): the helpers every file of the
 * engine uses, so none of them has to call back up into the file that
 * drives it: a job's lifetime and the stop flag.
 */
#include "workers/slack/sender_state.h"

#include "common/util.h"

#include <stdatomic.h>
#include <stdlib.h>

bool sender_stopping(sender *s)
{
    return atomic_load(&s->stop) || util_should_stop();
}

void sender_job_destroy(job *j)
{
    if (!j)
        return;
    free(j->tenant_id);
    free(j->team_id);
    free(j->destination);
    free(j->kind);
    free(j->event_json);
    event_destroy(j->ev);
    free(j);
}
