# shellcheck shell=bash
# A delivery history of realistic spread for benchmarks and tests (sourced,
# not run): bench/history_bench.sh, bench/prune_bench.sh and
# tests/e2e/test_dashboards.sh load theirs with it.
#
#   history_targets URL TARGETS TENANTS
#       one workspace (T0HIST; its token is never opened) and TARGETS
#       channel targets for failed checks: target i belongs to tenant
#       t(i mod TENANTS)
#   history_grow URL FIRST COUNT TARGETS TENANTS DAYS
#       deliveries FIRST+1 .. FIRST+COUNT, created at random over the last
#       DAYS days, spread over the targets by a hash; about 86% sent (5%
#       folded into digests), 4% suppressed (repeat_on_change, silenced),
#       6% failed (two error codes), and the rest, in
#       the last day (retries give up after 24 hours, the reconciler sends
#       what is pending after 2 minutes), retrying (due a minute later),
#       pending or sending; older ones of that share sent. One event per two
#       deliveries. One statement, so the rollup triggers see it whole.

history_targets() {
  psql "$1" -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO workspaces (team_id, team_name, token_enc) VALUES ('T0HIST', 'History', '\\x00');
INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind, use_failed_check)
SELECT 't' || (i % $3), 'T0HIST', 'target ' || i, 'C' || lpad(i::text, 8, '0'), 'channel', true
  FROM generate_series(1, $2) i;
SQL
}

history_grow() {
  local url=$1 first=$2 count=$3 targets=$4 tenants=$5 days=$6
  psql "$url" -XAtq -v ON_ERROR_STOP=1 <<SQL
WITH g AS (
  SELECT n, CASE WHEN x >= 0.96 AND at < now() - interval '1 day' THEN x - 0.2 ELSE x END AS r,
         at, target
    FROM (SELECT n, random() AS x, now() - random() * interval '$days days' AS at,
                 1 + (hashint4(n) & 2147483647) % $targets AS target
            FROM generate_series($first + 1, $first + $count) n) s),
ev AS (
  INSERT INTO events (event_id, tenant_id, kind, check_type, payload, received_at)
  SELECT md5('e' || (n / 2))::uuid, 't' || (target % $tenants), 'check_result', 'weak_mfa',
         '{"check": {"type": "weak_mfa"}, "failing_count": 3}', at
    FROM g WHERE n % 2 = 0
  ON CONFLICT DO NOTHING)
INSERT INTO deliveries (event_id, target_id, tenant_id, state, attempts, last_error_code,
                        last_error, slack_channel, slack_ts, created_at, updated_at, sent_at,
                        next_attempt_at, digest_size)
SELECT md5('e' || (n / 2) || '/' || n)::uuid, target, 't' || (target % $tenants),
       CASE WHEN r < 0.86 THEN 'sent' WHEN r < 0.90 THEN 'suppressed' WHEN r < 0.96 THEN 'failed'
            WHEN r < 0.98 THEN 'retrying' WHEN r < 0.99 THEN 'pending' ELSE 'sending' END,
       CASE WHEN r >= 0.86 AND r < 0.90 THEN 0 ELSE 1 END,
       CASE WHEN r >= 0.86 AND r < 0.88 THEN 'repeat_on_change'
            WHEN r >= 0.88 AND r < 0.90 THEN 'silenced'
            WHEN r >= 0.90 AND r < 0.93 THEN 'not_in_channel'
            WHEN r >= 0.93 AND r < 0.98 THEN 'channel_not_found' END,
       CASE WHEN r >= 0.86 AND r < 0.90 THEN 'kept quiet by the target''s policy or a silence'
            WHEN r >= 0.90 AND r < 0.98 THEN 'the channel is gone or the bot is not in it' END,
       CASE WHEN r < 0.86 THEN 'C' || lpad(target::text, 8, '0') END,
       CASE WHEN r < 0.86 THEN extract(epoch FROM at)::text END,
       at, at + interval '2 seconds', CASE WHEN r < 0.86 THEN at + interval '2 seconds' END,
       CASE WHEN r >= 0.96 AND r < 0.98 THEN at + interval '1 minute' END,
       CASE WHEN r < 0.05 THEN 3 END
  FROM g
ON CONFLICT DO NOTHING;
-- The rollups' change log into the rollups, as the workers do every second.
SELECT herald_stats_fold() \g /dev/null
SQL
}
