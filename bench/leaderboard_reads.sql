-- Per-read cost of a creator's leaderboard on PostgreSQL, database path
-- (docs/rankings.md "Measured"). Run: psql -h 127.0.0.1 -U postgres -d <scratch db>
-- -f bench/leaderboard_reads.sql. Builds its own tables; drops them at the end.
\timing off
DROP TABLE IF EXISTS m_giftsend, m_period_total;
CREATE TABLE m_giftsend (
  id bigserial PRIMARY KEY, creator_id bigint NOT NULL, sender_id bigint NOT NULL,
  coins bigint NOT NULL, subsidy_coins bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL, filler text NOT NULL DEFAULT repeat('x', 200)
);
-- 300,000 gifts to one hot creator from 20,000 senders over 60 days (Zipf-ish:
-- a few senders give most), and 100,000 to others.
INSERT INTO m_giftsend (creator_id, sender_id, coins, created_at)
SELECT 1, 1 + floor(20000 * power(random(), 3))::int,
       (ARRAY[1,1,1,5,5,50,100,500])[1 + floor(random() * 8)::int],
       '2030-01-31T00:00Z'::timestamptz - random() * interval '60 days'
FROM generate_series(1, 300000);
INSERT INTO m_giftsend (creator_id, sender_id, coins, created_at)
SELECT 2 + floor(random() * 1000)::int, 1 + floor(random() * 50000)::int, 1,
       '2030-01-31T00:00Z'::timestamptz - random() * interval '60 days'
FROM generate_series(1, 100000);
CREATE INDEX ON m_giftsend (creator_id, created_at DESC);
-- The alternative: a total row per (creator, period, sender), upserted per gift.
CREATE TABLE m_period_total AS
SELECT creator_id, 'all'::text AS period, sender_id, sum(coins) AS coins,
       max(created_at) AS reached_at
FROM m_giftsend GROUP BY creator_id, sender_id;
CREATE INDEX ON m_period_total (creator_id, period, coins DESC, reached_at);
VACUUM ANALYZE m_giftsend; VACUUM ANALYZE m_period_total;
\timing on
\echo '--- aggregate on read: all time, top 10 (3 runs)'
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
\echo '--- aggregate on read: this month (30 days), top 10'
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 AND created_at >= '2030-01-01' AND created_at < '2030-02-01'
GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
\echo '--- aggregate on read: this week, top 10'
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 AND created_at >= '2030-01-21' AND created_at < '2030-01-28'
GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
\echo '--- aggregate on read: today, top 10'
SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r FROM m_giftsend
WHERE creator_id = 1 AND created_at >= '2030-01-30' AND created_at < '2030-01-31'
GROUP BY sender_id ORDER BY c DESC, r, sender_id LIMIT 10 \g /dev/null
\echo '--- aggregate on read: a viewer''s rank, all time'
WITH t AS (SELECT sender_id, sum(coins - subsidy_coins) c, max(created_at) r
           FROM m_giftsend WHERE creator_id = 1 GROUP BY sender_id)
SELECT count(*) FROM t, (SELECT c, r FROM t WHERE sender_id = 15000) me
WHERE t.c > me.c OR (t.c = me.c AND t.r < me.r) \g /dev/null
\echo '--- period-total rows: all time, top 10'
SELECT sender_id, coins, reached_at FROM m_period_total
WHERE creator_id = 1 AND period = 'all' ORDER BY coins DESC, reached_at LIMIT 10 \g /dev/null
SELECT sender_id, coins, reached_at FROM m_period_total
WHERE creator_id = 1 AND period = 'all' ORDER BY coins DESC, reached_at LIMIT 10 \g /dev/null
\echo '--- period-total rows: a viewer''s rank'
SELECT count(*) FROM m_period_total t, (SELECT coins, reached_at FROM m_period_total
  WHERE creator_id = 1 AND period = 'all' AND sender_id = 15000) me
WHERE t.creator_id = 1 AND t.period = 'all' AND (t.coins > me.coins
  OR (t.coins = me.coins AND t.reached_at < me.reached_at)) \g /dev/null
\timing off
DROP TABLE m_giftsend, m_period_total;
