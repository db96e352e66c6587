-- Herald schema, version 2 (router): change notifications for the router's
-- subscriptions cache.
--
-- herald-router keeps every enabled target and its check filter in memory per
-- tenant and LISTENs on channel herald_targets. These triggers NOTIFY with the
-- tenant id whose subscriptions changed ('*' means "reload everything"), so
-- a change made with heraldctl reaches every router within milliseconds of
-- its commit. NOTIFY is transactional (sent at COMMIT, never on ROLLBACK) and
-- PostgreSQL folds identical payloads of one transaction into one, so a bulk
-- change costs one notification per tenant.
--
-- Only columns that routing reads fire the trigger: the sender updates
-- last_error / last_success_at on every delivery, and those must not make
-- every router reload.

CREATE FUNCTION herald_notify_targets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('herald_targets', OLD.tenant_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.tenant_id <> OLD.tenant_id) THEN
        PERFORM pg_notify('herald_targets', NEW.tenant_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER targets_notify_insert_delete
    AFTER INSERT OR DELETE ON targets
    FOR EACH ROW EXECUTE FUNCTION herald_notify_targets();

CREATE TRIGGER targets_notify_update
    AFTER UPDATE ON targets
    FOR EACH ROW
    WHEN ((OLD.tenant_id, OLD.team_id, OLD.destination, OLD.destination_kind,
           OLD.destination_resolved, OLD.use_failed_check, OLD.use_data_collection,
           OLD.enabled, OLD.deleted_at)
          IS DISTINCT FROM
          (NEW.tenant_id, NEW.team_id, NEW.destination, NEW.destination_kind,
           NEW.destination_resolved, NEW.use_failed_check, NEW.use_data_collection,
           NEW.enabled, NEW.deleted_at))
    EXECUTE FUNCTION herald_notify_targets();

CREATE FUNCTION herald_notify_target_checks() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenant text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT t.tenant_id INTO tenant FROM targets t WHERE t.id = OLD.target_id;
        -- NULL when the target itself is being deleted (ON DELETE CASCADE):
        -- the targets trigger has notified for it already.
        IF tenant IS NOT NULL THEN
            PERFORM pg_notify('herald_targets', tenant);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT t.tenant_id INTO tenant FROM targets t WHERE t.id = NEW.target_id;
        IF tenant IS NOT NULL THEN
            PERFORM pg_notify('herald_targets', tenant);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER target_checks_notify
    AFTER INSERT OR UPDATE OR DELETE ON target_checks
    FOR EACH ROW EXECUTE FUNCTION herald_notify_target_checks();

-- TRUNCATE fires no row triggers: ask for a full reload.
CREATE FUNCTION herald_notify_targets_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_targets', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER targets_notify_truncate
    AFTER TRUNCATE ON targets
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify_targets_all();
CREATE TRIGGER target_checks_notify_truncate
    AFTER TRUNCATE ON target_checks
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify_targets_all();

-- The cache's full load reads enabled, live targets; per-tenant reloads use
-- targets_tenant (001). Both are small next to deliveries, so no further
-- index is needed there. The router's hot path writes through the
-- deliveries (event_id, target_id) unique index and the events primary key
-- only: it adds no index of its own to keep inserts cheap.
