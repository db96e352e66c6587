-- Herald schema 010 (issue 10, tuning the noise and acting from Slack):
-- per-target severity floor, repeat policy and resolved updates; the alert
-- state the router keeps per target and check; silences; the new terminal
-- delivery state 'suppressed' with its reason; deliveries of kind 'resolve'
-- and 'nudge'; who may press Herald's buttons in Slack, what they pressed,
-- and the remediation text a nudge sends.
--
-- Applied in one transaction. Adding the columns is a catalog change (their
-- defaults are constants); the new CHECK constraints are added NOT VALID and
-- validated, which reads deliveries once under a lock that lets the workers
-- go on writing.

-- ==== targets: what a target wants to hear ==========================================

-- min_severity: check results below it are recorded as suppressed
-- ('below_min_severity'). repeat_policy: 'every' posts each failing run,
-- 'on_change' only when the set of failing users changed (an unchanged run
-- goes as a thread reply when thread_repeats is on, else it is suppressed),
-- 'interval' at most once per repeat_interval_s while the check keeps
-- failing. notify_resolved: edit the message when the check passes again (or
-- the collection succeeds after failing). nudge_enabled: check messages carry
-- a "Nudge failing users" button.
ALTER TABLE targets ADD COLUMN IF NOT EXISTS min_severity text NOT NULL DEFAULT 'low';
ALTER TABLE targets ADD COLUMN IF NOT EXISTS repeat_policy text NOT NULL DEFAULT 'every';
ALTER TABLE targets ADD COLUMN IF NOT EXISTS repeat_interval_s integer;
ALTER TABLE targets ADD COLUMN IF NOT EXISTS notify_resolved boolean NOT NULL DEFAULT true;
ALTER TABLE targets ADD COLUMN IF NOT EXISTS nudge_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE targets ADD CONSTRAINT targets_min_severity_check
    CHECK (min_severity IN ('low', 'medium', 'high', 'critical'));
ALTER TABLE targets ADD CONSTRAINT targets_repeat_policy_check
    CHECK (repeat_policy IN ('every', 'on_change', 'interval'));
-- An interval exactly when the policy is 'interval': at least a minute, at
-- most 30 days.
ALTER TABLE targets ADD CONSTRAINT targets_repeat_interval_check
    CHECK ((repeat_policy = 'interval') = (repeat_interval_s IS NOT NULL)
           AND (repeat_interval_s IS NULL OR repeat_interval_s BETWEEN 60 AND 2592000));

-- The routers' cache holds the new columns: it reloads when they change.
DROP TRIGGER IF EXISTS targets_notify_update ON targets;
CREATE TRIGGER targets_notify_update
    AFTER UPDATE ON targets
    FOR EACH ROW
    WHEN ((OLD.tenant_id, OLD.team_id, OLD.destination, OLD.destination_kind,
           OLD.destination_resolved, OLD.use_failed_check, OLD.use_data_collection,
           OLD.enabled, OLD.deleted_at, OLD.thread_repeats, OLD.min_severity,
           OLD.repeat_policy, OLD.repeat_interval_s, OLD.notify_resolved, OLD.nudge_enabled)
          IS DISTINCT FROM
          (NEW.tenant_id, NEW.team_id, NEW.destination, NEW.destination_kind,
           NEW.destination_resolved, NEW.use_failed_check, NEW.use_data_collection,
           NEW.enabled, NEW.deleted_at, NEW.thread_repeats, NEW.min_severity,
           NEW.repeat_policy, NEW.repeat_interval_s, NEW.notify_resolved, NEW.nudge_enabled))
    EXECUTE FUNCTION herald_notify_targets();

-- ==== deliveries: suppressed, and the kinds of delivery ===============================

-- 'suppressed' is terminal: a severity floor, a silence or the repeat policy
-- kept the delivery quiet. Its reason is in last_error_code
-- ('below_min_severity', 'silenced', 'repeat_on_change', 'repeat_interval',
-- 'nothing_to_resolve') and last_error (readable: "silence 42 by ...").
-- The row is written by the router in the batch statement and never
-- published: nothing was to be sent.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sending', 'retrying', 'sent', 'failed', 'suppressed')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_state_check;

-- kind: 'notify', a message of its own (or a thread reply, or folded in a
-- digest); 'resolve', the passing result that edits the notification it
-- resolves (ref_event_id: that notification's event; same target) and
-- replies in its thread when threads are on; 'nudge', a direct message to
-- one failing user of the check event ref_event_id (its own events row, of
-- kind 'nudge', holds the user and the text).
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'notify';
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS ref_event_id uuid;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind_check
    CHECK (kind IN ('notify', 'resolve', 'nudge')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_kind_check;
-- A notification's resolve and nudges, found from it (the rows are few).
CREATE INDEX IF NOT EXISTS deliveries_ref ON deliveries (ref_event_id, target_id)
    WHERE ref_event_id IS NOT NULL;

ALTER TABLE events DROP CONSTRAINT IF EXISTS events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('check_result', 'collection_event', 'test', 'nudge')) NOT VALID;
ALTER TABLE events VALIDATE CONSTRAINT events_kind_check;

-- The rollups count suppressed rows by reason, as they count failures by code.
CREATE OR REPLACE FUNCTION herald_stats_error_code(state text, code text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN state IN ('failed', 'retrying', 'suppressed') THEN coalesce(code, '')
                ELSE '' END
$$;

-- The rollups count every kind; the target's last success and last error
-- leave nudges out (009's function, with that one change).
CREATE OR REPLACE FUNCTION herald_deliveries_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                       herald_stats_error_code(state, last_error_code) AS error_code,
                       count(*)::int AS n, count(digest_size)::int AS folded
                  FROM new_rows GROUP BY 1, 2, 3, 4) d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, hour, state, error_code,
                       sum(n)::int AS n, sum(folded)::int AS folded
                  FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                               herald_stats_error_code(state, last_error_code) AS error_code,
                               1 AS n, (digest_size IS NOT NULL)::int AS folded
                          FROM new_rows
                        UNION ALL
                        SELECT target_id, date_trunc('hour', created_at), state,
                               herald_stats_error_code(state, last_error_code),
                               -1, -(digest_size IS NOT NULL)::int
                          FROM old_rows) x
                 GROUP BY 1, 2, 3, 4) d;
    ELSE -- DELETE
        IF current_setting('herald.pruning', true) = 'on' THEN
            RETURN NULL;
        END IF;
        PERFORM herald_stats_apply(array_agg(target_id), array_agg(hour), array_agg(state),
                                   array_agg(error_code), array_agg(n), array_agg(folded))
          FROM (SELECT target_id, date_trunc('hour', created_at) AS hour, state,
                       herald_stats_error_code(state, last_error_code) AS error_code,
                       -count(*)::int AS n, -count(digest_size)::int AS folded
                  FROM old_rows GROUP BY 1, 2, 3, 4) d;
        RETURN NULL;
    END IF;

    -- Last success and last error on the target row, only ever forward (the
    -- sender's own update of the same statement wrote the same time: no
    -- second row version then). A nudge is a direct message to someone else
    -- than the target's destination: its outcome says nothing of the target.
    UPDATE targets t SET last_success_at = x.at
      FROM (SELECT target_id, max(sent_at) AS at FROM new_rows
             WHERE state = 'sent' AND sent_at IS NOT NULL AND kind <> 'nudge' GROUP BY 1) x
     WHERE t.id = x.target_id AND (t.last_success_at IS NULL OR t.last_success_at < x.at);
    UPDATE targets t SET last_error_at = x.at, last_error_code = x.code, last_error = x.msg
      FROM (SELECT DISTINCT ON (target_id) target_id, updated_at AS at,
                   last_error_code AS code, last_error AS msg
              FROM new_rows WHERE state = 'failed' AND kind <> 'nudge'
             ORDER BY target_id, updated_at DESC) x
     WHERE t.id = x.target_id AND (t.last_error_at IS NULL OR t.last_error_at < x.at);
    RETURN NULL;
END
$$;

-- Health gains suppressed_24h (a new last column: the view's readers by name
-- are unchanged).
CREATE OR REPLACE VIEW target_delivery_health AS
SELECT t.id AS target_id,
       t.tenant_id,
       t.name,
       t.team_id,
       t.destination,
       t.enabled,
       coalesce(s.pending, 0)  AS pending_24h,
       coalesce(s.sending, 0)  AS sending_24h,
       coalesce(s.retrying, 0) AS retrying_24h,
       coalesce(s.sent, 0)     AS sent_24h,
       coalesce(s.failed, 0)   AS failed_24h,
       t.last_success_at,
       t.last_error_at,
       t.last_error_code,
       t.last_error,
       coalesce(s.suppressed, 0) AS suppressed_24h
  FROM targets t
  LEFT JOIN LATERAL (
        SELECT (sum(r.n) FILTER (WHERE r.state = 'pending'))::bigint    AS pending,
               (sum(r.n) FILTER (WHERE r.state = 'sending'))::bigint    AS sending,
               (sum(r.n) FILTER (WHERE r.state = 'retrying'))::bigint   AS retrying,
               (sum(r.n) FILTER (WHERE r.state = 'sent'))::bigint       AS sent,
               (sum(r.n) FILTER (WHERE r.state = 'failed'))::bigint     AS failed,
               (sum(r.n) FILTER (WHERE r.state = 'suppressed'))::bigint AS suppressed
          FROM delivery_stats_hourly r
         WHERE r.target_id = t.id
           AND r.hour >= date_trunc('hour', now()) - interval '23 hours') s ON true
 WHERE t.deleted_at IS NULL;

-- ==== alert state: what each target was last told ===================================

-- Per target and alert (a check type: 'check:<type>', or a collection's
-- integration: 'collection:<integration id>'), kept by the router that owns
-- the tenant's partition, in the batch statement that writes the deliveries.
-- firing: the last result seen failed. since: start of the failing streak.
-- last_event_id: the newest notification of the streak that was routed (not
-- suppressed): the message a resolve edits (with target_id it is the
-- delivery). last_notified_at / users_hash / failing_count: when and what it
-- said, for repeat_policy. last_result_at: the newest result's evaluated (or
-- finished) time, so an older result arriving late changes nothing.
-- resolved_event_id / resolved_at: the pass that ended the streak.
CREATE TABLE IF NOT EXISTS alert_states (
    target_id         bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    alert_key         text NOT NULL,
    tenant_id         text NOT NULL,
    firing            boolean NOT NULL,
    since             timestamptz NOT NULL,
    last_result_at    timestamptz NOT NULL,
    last_event_id     uuid,
    last_notified_at  timestamptz,
    users_hash        bigint NOT NULL DEFAULT 0,
    failing_count     bigint NOT NULL DEFAULT 0,
    resolved_event_id uuid,
    resolved_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, alert_key)
);

-- ==== silences ===========================================================================

-- A silence keeps matching notifications quiet from starts_at until ends_at
-- (NULL: until expired: a mute). Scope: the tenant, narrowed by a check type,
-- a target and/or a workspace (at least one of them); NULL means any.
-- A check-type silence matches check results of that type only; a target or
-- workspace silence matches every notification of its scope. author: who
-- made it ("cli:<login>", "api:<token name>", "slack:<team>/<user>").
-- expired_at / expired_by: ended early by `heraldctl silence expire`, the API
-- or the console (an unmute). created_from_*: the Slack message whose button
-- made it.
CREATE TABLE IF NOT EXISTS silences (
    id                      bigserial PRIMARY KEY,
    tenant_id               text NOT NULL CHECK (tenant_id <> ''),
    check_type              text,
    target_id               bigint REFERENCES targets (id) ON DELETE CASCADE,
    team_id                 text,
    starts_at               timestamptz NOT NULL DEFAULT now(),
    ends_at                 timestamptz,
    author                  text NOT NULL,
    reason                  text NOT NULL CHECK (reason <> ''),
    created_at              timestamptz NOT NULL DEFAULT now(),
    expired_at              timestamptz,
    expired_by              text,
    created_from_event_id   uuid,
    created_from_target_id  bigint,
    CHECK (check_type IS NOT NULL OR target_id IS NOT NULL OR team_id IS NOT NULL),
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
-- The routers load the live ones (not expired, not ended).
CREATE INDEX IF NOT EXISTS silences_live ON silences (tenant_id) WHERE expired_at IS NULL;
CREATE INDEX IF NOT EXISTS silences_from ON silences (created_from_event_id, created_from_target_id)
    WHERE created_from_event_id IS NOT NULL;

-- The routers reload a tenant's silences when they change.
CREATE OR REPLACE FUNCTION herald_notify_silences() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('herald_silences', OLD.tenant_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('herald_silences', NEW.tenant_id);
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS silences_notify ON silences;
CREATE TRIGGER silences_notify
    AFTER INSERT OR UPDATE OR DELETE ON silences
    FOR EACH ROW EXECUTE FUNCTION herald_notify_silences();

-- ==== acting from Slack ==================================================================

-- Who may press Herald's buttons in a tenant's messages: 'channel' (anyone
-- who sees the message), 'listed' (the Slack user ids in action_users or the
-- members of the user groups in action_groups), or 'none' (no buttons act).
-- A tenant without a row: 'channel'.
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id      text PRIMARY KEY CHECK (tenant_id <> ''),
    slack_actions  text NOT NULL DEFAULT 'channel'
                   CHECK (slack_actions IN ('channel', 'listed', 'none')),
    action_users   text[] NOT NULL DEFAULT '{}',
    action_groups  text[] NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Every button press, allowed or not: who, when, what, on which message,
-- and what came of it ('ok', 'forbidden', 'stale' (the message is not
-- Herald's or no longer known), 'error'). silence_id: the silence a snooze
-- or mute made, or an unmute ended.
CREATE TABLE IF NOT EXISTS slack_actions (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    team_id     text NOT NULL,
    user_id     text NOT NULL,
    user_name   text,
    action      text NOT NULL CHECK (action IN ('snooze', 'mute', 'unmute', 'ack', 'nudge')),
    channel     text,
    message_ts  text,
    event_id    uuid,
    target_id   bigint,
    tenant_id   text,
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'forbidden', 'stale', 'error')),
    detail      text,
    silence_id  bigint
);
CREATE INDEX IF NOT EXISTS slack_actions_message ON slack_actions (event_id, target_id);
CREATE INDEX IF NOT EXISTS slack_actions_at ON slack_actions (at);

-- The text a nudge sends to a failing user, per tenant and check type; a
-- check type without a row uses the built-in default for its type (or the
-- generic one).
CREATE TABLE IF NOT EXISTS remediations (
    tenant_id   text NOT NULL CHECK (tenant_id <> ''),
    check_type  text NOT NULL CHECK (check_type <> ''),
    text        text NOT NULL CHECK (text <> ''),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (tenant_id, check_type)
);
