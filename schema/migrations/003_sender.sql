-- Herald schema 003 (sender, issue 4): target settings for digests and
-- threads, the email -> Slack user cache, thread state for repeats, and the
-- index the sender's retry/lease poller scans. Applied once, in a transaction.

-- Target settings. digest_enabled: when more messages wait for the target's
-- channel than its pace can send within a few seconds, fold them into one
-- digest message (on by default; a target may opt out). thread_repeats: a
-- repeat notification of a check that is still failing goes as a reply in the
-- thread of the first message (off by default).
ALTER TABLE targets ADD COLUMN IF NOT EXISTS digest_enabled boolean NOT NULL DEFAULT true;
ALTER TABLE targets ADD COLUMN IF NOT EXISTS thread_repeats boolean NOT NULL DEFAULT false;

-- How a delivery went out: digest_size is the number of deliveries folded
-- into the same Slack message (NULL: a message of its own); slack_thread_ts
-- is the thread it was posted into (NULL: top level).
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS digest_size integer;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS slack_thread_ts text;

-- The sender leases rows it is about to work on through next_attempt_at:
-- 'retrying' rows are due at next_attempt_at; 'sending' rows claimed by a
-- sender carry the end of that sender's lease there, after which another
-- sender may take them over (the previous one died mid-request). Rows in
-- 'sending' with no lease (heraldctl test in progress) are never taken over.
CREATE INDEX IF NOT EXISTS deliveries_lease ON deliveries (next_attempt_at)
    WHERE state IN ('retrying', 'sending');

-- users.lookupByEmail answers per workspace (Tier 3: about 50 a minute), kept
-- for a time to live. user_id NULL records users_not_found (kept for a
-- shorter time) so a wrong address does not cost a lookup per message.
CREATE TABLE IF NOT EXISTS slack_user_cache (
    team_id     text NOT NULL,
    email       text NOT NULL, -- lower-cased
    user_id     text,
    resolved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, email)
);

-- Threads for repeats: per target and check type, the first message of the
-- current failing streak and what the last notification said.
CREATE TABLE IF NOT EXISTS slack_threads (
    target_id          bigint NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    check_type         text NOT NULL,
    destination        text NOT NULL, -- what the thread was started for: a changed
                                      -- destination starts a new thread
    channel            text NOT NULL, -- Slack's channel id of the thread
    thread_ts          text NOT NULL,
    last_failing_count bigint NOT NULL,
    last_event_id      uuid NOT NULL,
    last_run_at        timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, check_type)
);
