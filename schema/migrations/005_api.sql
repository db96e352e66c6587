-- Herald schema 005 (herald-api, issue 5): API tokens, console sessions, OAuth
-- install states, which tenant installed which workspace, and the check types
-- seen so far (for the console's checks page).
--
-- Secrets are never stored in clear: tokens, session ids and OAuth states are
-- kept as SHA-256 digests; only the holder of the original can present it.

-- `heraldctl token create [--tenant T]`. A token with tenant_id NULL is an
-- operator token: it sees and changes every tenant.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           bigserial PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,  -- sha256 of the whole token text
    prefix       text NOT NULL,          -- the first characters, to recognise it in lists
    tenant_id    text,
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK (tenant_id IS NULL OR tenant_id <> '')
);

-- Console sign-ins: the browser holds the session id in an HttpOnly cookie.
-- Revoking the token ends its sessions (checked on every request).
CREATE TABLE IF NOT EXISTS api_sessions (
    id_hash    bytea PRIMARY KEY,        -- sha256 of the cookie value
    token_id   bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf       text NOT NULL,            -- sent back by forms / X-CSRF-Token
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS api_sessions_expires ON api_sessions (expires_at);

-- OAuth v2 install: state is random, single-use (used_at), short-lived
-- (expires_at) and bound to the browser that started it (browser_hash is the
-- sha256 of a cookie set on /slack/install).
CREATE TABLE IF NOT EXISTS oauth_states (
    state_hash   bytea PRIMARY KEY,
    browser_hash bytea NOT NULL,
    token_id     bigint REFERENCES api_tokens (id) ON DELETE CASCADE,
    tenant_id    text,                   -- the installing session's tenant
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX IF NOT EXISTS oauth_states_expires ON oauth_states (expires_at);

-- Which tenants installed (or reinstalled) a workspace through the API. A
-- tenant token sees a workspace linked to its tenant or used by its targets,
-- and may only point new targets at those.
CREATE TABLE IF NOT EXISTS workspace_tenants (
    team_id    text NOT NULL REFERENCES workspaces (team_id) ON DELETE CASCADE,
    tenant_id  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, tenant_id)
);
CREATE INDEX IF NOT EXISTS workspace_tenants_tenant ON workspace_tenants (tenant_id);

-- Check types seen per tenant, kept by a trigger on events so the console
-- lists them without scanning the events table. last_seen_at is refreshed at
-- most hourly so concurrent routers do not fight over one row per event.
CREATE TABLE IF NOT EXISTS check_types (
    tenant_id     text NOT NULL,
    check_type    text NOT NULL,
    check_name    text NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, check_type)
);

CREATE OR REPLACE FUNCTION herald_note_check_type() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'check_result' AND NEW.check_type IS NOT NULL AND NEW.check_type <> '' THEN
        INSERT INTO check_types (tenant_id, check_type, check_name)
        VALUES (NEW.tenant_id, NEW.check_type,
                coalesce(NEW.payload -> 'check' ->> 'name', ''))
        ON CONFLICT (tenant_id, check_type) DO UPDATE
           SET last_seen_at = now(), check_name = EXCLUDED.check_name
         WHERE check_types.last_seen_at < now() - interval '1 hour'
            OR check_types.check_name IS DISTINCT FROM EXCLUDED.check_name;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS events_note_check_type ON events;
CREATE TRIGGER events_note_check_type AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION herald_note_check_type();

-- Check types already seen before this migration.
INSERT INTO check_types (tenant_id, check_type, check_name, first_seen_at, last_seen_at)
SELECT tenant_id, check_type,
       coalesce((array_agg(payload -> 'check' ->> 'name' ORDER BY received_at DESC))[1], ''),
       min(received_at), max(received_at)
  FROM events
 WHERE kind = 'check_result' AND check_type IS NOT NULL AND check_type <> ''
 GROUP BY tenant_id, check_type
ON CONFLICT DO NOTHING;
