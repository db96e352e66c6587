-- Herald schema 004 (admin: heraldctl and the admin data layer, common/store.c).

-- `workspace remove` must not lose the delivery history of the targets that
-- used the workspace (deliveries -> targets -> workspaces), so a workspace
-- that targets ever referenced is kept as a tombstone: removed_at is set, its
-- token is wiped (token_enc = '') and it is marked revoked so pending
-- deliveries fail fast. A later `workspace add` of the same team id revives it.
-- A workspace no target ever used is deleted outright.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS removed_at timestamptz;

-- Target names are unique per tenant among targets that are not removed; the
-- index makes that hold under concurrent heraldctl / API writers too.
CREATE UNIQUE INDEX IF NOT EXISTS targets_tenant_name_live
    ON targets (tenant_id, name) WHERE deleted_at IS NULL;

-- `heraldctl deliveries` and the admin API list deliveries newest first with
-- no other filter; without this that is a full sort of the table.
CREATE INDEX IF NOT EXISTS deliveries_created ON deliveries (created_at DESC, id DESC);
