-- Herald schema 007 (threads for repeats, exactly): the passing check results
-- the sender needs to know that a check was fixed.
--
-- A target with thread_repeats posts a check that keeps failing as replies in
-- the thread of its first message, and starts a new top-level message when
-- the check was fixed and fails again. Passing results are routed nowhere, so
-- nothing recorded that a check passed: the sender guessed it from the runs
-- stored around it. Now the router records each passing result of a tenant
-- that has a live failed_check target with thread_repeats (its subscriptions
-- cache knows which; every other tenant costs nothing), in the statement that
-- writes the batch's deliveries. The sender replies in a thread only when no
-- pass lies between the thread's last notification and the new failure, by
-- evaluation time: exact whatever order or delay the two workers see the
-- events in (a sender catching up after an outage included).

CREATE TABLE IF NOT EXISTS check_passes (
    tenant_id    text NOT NULL,
    check_type   text NOT NULL,
    evaluated_at timestamptz NOT NULL, -- the result's evaluated_at
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, check_type, evaluated_at)
);
-- The sender deletes rows older than any thread it could still reply in
-- (--thread-max-age plus the longest retry age).

-- thread_repeats now changes what the router does: the routers' cache
-- reloads when it changes (002's trigger, with the column added).
DROP TRIGGER IF EXISTS targets_notify_update ON targets;
CREATE TRIGGER targets_notify_update
    AFTER UPDATE ON targets
    FOR EACH ROW
    WHEN ((OLD.tenant_id, OLD.team_id, OLD.destination, OLD.destination_kind,
           OLD.destination_resolved, OLD.use_failed_check, OLD.use_data_collection,
           OLD.enabled, OLD.deleted_at, OLD.thread_repeats)
          IS DISTINCT FROM
          (NEW.tenant_id, NEW.team_id, NEW.destination, NEW.destination_kind,
           NEW.destination_resolved, NEW.use_failed_check, NEW.use_data_collection,
           NEW.enabled, NEW.deleted_at, NEW.thread_repeats))
    EXECUTE FUNCTION herald_notify_targets();

-- While a target does not thread repeats (turned off, disabled, removed, no
-- longer for failed checks), passes may go unrecorded: its threads are
-- forgotten, so when it threads again it starts with new top-level messages
-- instead of replying in a thread whose check was fixed meanwhile.
CREATE OR REPLACE FUNCTION herald_forget_threads() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM slack_threads WHERE target_id = NEW.id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS targets_forget_threads ON targets;
CREATE TRIGGER targets_forget_threads
    AFTER UPDATE ON targets
    FOR EACH ROW
    WHEN ((OLD.thread_repeats AND OLD.use_failed_check AND OLD.enabled AND OLD.deleted_at IS NULL)
          AND NOT (NEW.thread_repeats AND NEW.use_failed_check AND NEW.enabled
                   AND NEW.deleted_at IS NULL))
    EXECUTE FUNCTION herald_forget_threads();
