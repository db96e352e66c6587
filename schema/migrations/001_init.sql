-- Herald schema, version 1: installations, targets, check filters, events and
-- deliveries, plus the views dashboards read. Applied by `heraldctl migrate`
-- inside one transaction; schema_migrations records it so a rerun is a no-op.

CREATE TABLE workspaces (
    team_id        text PRIMARY KEY,
    team_name      text NOT NULL,
    bot_user_id    text,
    scopes         text,
    -- AES-256-GCM with HERALD_SECRET_KEY: 12-byte nonce || ciphertext || 16-byte tag
    token_enc      bytea NOT NULL,
    installed_at   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- set when Slack says the token is dead (invalid_auth, token_revoked...);
    -- cleared by a reinstall
    revoked_at     timestamptz,
    revoked_reason text
);

CREATE TABLE targets (
    id                   bigserial PRIMARY KEY,
    tenant_id            text NOT NULL,
    team_id              text NOT NULL REFERENCES workspaces (team_id),
    name                 text NOT NULL,
    description          text NOT NULL DEFAULT '',
    -- as the administrator entered it: C0123ABC, #sec-alerts or someone@example.com
    destination          text NOT NULL,
    destination_kind     text NOT NULL CHECK (destination_kind IN ('channel', 'email')),
    -- what Slack resolved it to (channel id, or the person's user id); NULL until known
    destination_resolved text,
    use_failed_check     boolean NOT NULL DEFAULT false,
    use_data_collection  boolean NOT NULL DEFAULT false,
    enabled              boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- removed targets are kept so their delivery history stays readable
    deleted_at           timestamptz,
    last_error_code      text,
    last_error           text,
    last_error_at        timestamptz,
    last_success_at      timestamptz,
    CHECK (use_failed_check OR use_data_collection)
);
CREATE INDEX targets_tenant ON targets (tenant_id) WHERE deleted_at IS NULL;

-- A failed_check target with rows here is narrowed to those check types;
-- with none it gets every failing check.
CREATE TABLE target_checks (
    target_id  bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    check_type text NOT NULL,
    PRIMARY KEY (target_id, check_type)
);

-- Each routed event, once, so deliveries can be rendered and retried from
-- the database alone.
CREATE TABLE events (
    event_id    uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('check_result', 'collection_event', 'test')),
    check_type  text,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL,
    target_id       bigint NOT NULL REFERENCES targets (id),
    tenant_id       text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'retrying', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error_code text,
    last_error      text,
    slack_channel   text,
    slack_ts        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    -- routing is idempotent on this pair: an event seen twice is one delivery
    UNIQUE (event_id, target_id)
);
CREATE INDEX deliveries_target_created ON deliveries (target_id, created_at DESC);
CREATE INDEX deliveries_tenant_created ON deliveries (tenant_id, created_at DESC);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'retrying';

-- Dashboards: per target, deliveries by state over the last 24 hours, and the
-- last success and last error (with its reason).
CREATE VIEW target_delivery_health AS
SELECT t.id AS target_id,
       t.tenant_id,
       t.name,
       t.team_id,
       t.destination,
       t.enabled,
       count(d.id) FILTER (WHERE d.state = 'pending')  AS pending_24h,
       count(d.id) FILTER (WHERE d.state = 'sending')  AS sending_24h,
       count(d.id) FILTER (WHERE d.state = 'retrying') AS retrying_24h,
       count(d.id) FILTER (WHERE d.state = 'sent')     AS sent_24h,
       count(d.id) FILTER (WHERE d.state = 'failed')   AS failed_24h,
       (SELECT max(s.sent_at) FROM deliveries s
         WHERE s.target_id = t.id AND s.state = 'sent') AS last_success_at,
       le.updated_at AS last_error_at,
       le.last_error_code,
       le.last_error
  FROM targets t
  LEFT JOIN deliveries d
         ON d.target_id = t.id AND d.created_at > now() - interval '24 hours'
  LEFT JOIN LATERAL (
        SELECT f.updated_at, f.last_error_code, f.last_error
          FROM deliveries f
         WHERE f.target_id = t.id AND f.state = 'failed'
         ORDER BY f.updated_at DESC
         LIMIT 1) le ON true
 WHERE t.deleted_at IS NULL
 GROUP BY t.id, le.updated_at, le.last_error_code, le.last_error;
