-- check_types was kept by a per-row trigger on events (005), which cost the
-- router about 15% of each batch statement. One statement-level trigger over
-- the statement's inserted rows does the same work once per batch.

DROP TRIGGER IF EXISTS events_note_check_type ON events;

CREATE OR REPLACE FUNCTION herald_note_check_types() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- One row per (tenant, type): ON CONFLICT DO UPDATE may not touch a row
    -- twice in one statement. The newest name of the batch wins.
    INSERT INTO check_types (tenant_id, check_type, check_name)
    SELECT DISTINCT ON (tenant_id, check_type)
           tenant_id, check_type, coalesce(payload -> 'check' ->> 'name', '')
      FROM new_events
     WHERE kind = 'check_result' AND check_type IS NOT NULL AND check_type <> ''
     ORDER BY tenant_id, check_type, received_at DESC
    ON CONFLICT (tenant_id, check_type) DO UPDATE
       SET last_seen_at = now(), check_name = EXCLUDED.check_name
     WHERE check_types.last_seen_at < now() - interval '1 hour'
        OR check_types.check_name IS DISTINCT FROM EXCLUDED.check_name;
    RETURN NULL;
END $$;

CREATE TRIGGER events_note_check_types AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_note_check_types();

DROP FUNCTION IF EXISTS herald_note_check_type();
