-- Herald schema 008 (Slack token rotation): an installation made with token
-- rotation on gets an access token that expires (12 h at Slack) and a refresh
-- token that buys the next pair. Each refresh revokes the previous refresh
-- token, so the pair and the new expiry are written together, in the
-- transaction that holds the workspace row (SELECT ... FOR UPDATE) while it
-- asks Slack: one installation is refreshed by one process at a time.
--
-- refresh_token_enc: sealed like token_enc (AES-256-GCM with
-- HERALD_SECRET_KEY: 12-byte nonce || ciphertext || 16-byte tag).
-- Both NULL: no rotation (tokens that never expire), as before. A reinstall
-- replaces all three columns.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS refresh_token_enc bytea;
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS token_expires_at timestamptz;
