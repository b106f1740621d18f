/**
 * The Postgres backend's schema, created and migrated by the backend itself.
 *
 * Everything lives in one schema (default `runbus`, configurable so tests and apps share a
 * database). `<schema>.version` records the migrations applied; `migrate()` applies the
 * missing ones in one transaction under an advisory lock, so processes starting together
 * never race, and refuses a schema newer than this code.
 *
 * Every write that must be atomic is ONE statement: a call of one of the functions below
 * (the SQL counterpart of the Redis backend's Lua scripts), so one round trip per append
 * batch, per claim, per ack batch. Appends insert the batch with one multi-row
 * `INSERT … SELECT FROM unnest(…)` and send one NOTIFY; NOTIFY is delivered at commit, so
 * a woken reader always finds the rows.
 *
 * Errors raised on purpose carry the SQLSTATEs RB404 (no such run), RB409 (run exists),
 * RB410 (run ended); `driver.ts` maps them to the runbus errors.
 *
 * Time is the caller's clock (`p_now`, epoch ms), like `ts`, so every engine and the
 * memory backend agree on what "expired" means.
 */
import { InvalidArgumentError } from '../../events/errors.js'
import type { Session } from './driver.js'

/** The schema version this code writes. */
export const SCHEMA_VERSION = 3

/** Checks a schema name: a plain lower-case SQL identifier, short enough for channel names. */
export function checkSchemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,39}$/.test(name)) {
    throw new InvalidArgumentError(
      `Postgres schema ${JSON.stringify(name)} is not allowed (lower-case letters, digits and _, at most 40, not starting with a digit)`,
    )
  }
  return name
}

/** The LISTEN/NOTIFY channel of a schema. */
export function channelOf(schema: string): string {
  return `${schema}_wake`
}

const V1 = String.raw`
CREATE TABLE @s.runs (
  id text PRIMARY KEY,
  ord bigint GENERATED ALWAYS AS IDENTITY,
  status text NOT NULL,
  meta text,
  created_at double precision NOT NULL,
  ended_at double precision,
  error text,
  max_events bigint NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  first_seq bigint NOT NULL DEFAULT 1,
  inbox_seq bigint NOT NULL DEFAULT 0,
  expires_at double precision
);
CREATE INDEX runs_ord ON @s.runs (ord DESC);
CREATE INDEX runs_status_ord ON @s.runs (status, ord DESC);
CREATE INDEX runs_expires ON @s.runs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE @s.events (
  run text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  data text NOT NULL,
  ts double precision NOT NULL,
  PRIMARY KEY (run, seq)
);
CREATE TABLE @s.inbox (
  run text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  data text NOT NULL,
  ts double precision NOT NULL,
  PRIMARY KEY (run, seq)
);

CREATE TABLE @s.kv (
  key text PRIMARY KEY,
  value text NOT NULL,
  expires_at double precision
);
CREATE INDEX kv_expires ON @s.kv (expires_at) WHERE expires_at IS NOT NULL;

-- Bus messages too large for a NOTIFY payload: the row carries it, the NOTIFY its id.
CREATE TABLE @s.bus (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel text NOT NULL,
  payload text NOT NULL,
  ts double precision NOT NULL
);

-- Work jobs. state: 0 ready, 1 in flight, 2 dead, 3 delayed. 'delivery' counts deliveries
-- ever and names the lease (never reused); 'attempts' is the attempt count users see.
CREATE SEQUENCE @s.job_seq;
CREATE TABLE @s.jobs (
  jid bigint PRIMARY KEY,
  queue text NOT NULL,
  id text NOT NULL,
  payload text NOT NULL,
  state smallint NOT NULL,
  ord bigint NOT NULL,
  due double precision,
  lease_until double precision,
  consumer text,
  visibility double precision,
  delivery int NOT NULL DEFAULT 0,
  attempts int NOT NULL DEFAULT 0,
  first_seen double precision NOT NULL,
  last_error text,
  dead_at double precision,
  reason text
);
CREATE INDEX jobs_ready ON @s.jobs (queue, ord) WHERE state = 0;
CREATE INDEX jobs_flight ON @s.jobs (queue, lease_until) WHERE state = 1;
CREATE INDEX jobs_delayed ON @s.jobs (queue, due) WHERE state = 3;
CREATE INDEX jobs_dead ON @s.jobs (queue, dead_at, jid) WHERE state = 2;
CREATE TABLE @s.work_ids (
  queue text NOT NULL,
  id text NOT NULL,
  expires_at double precision NOT NULL,
  PRIMARY KEY (queue, id)
);
CREATE INDEX work_ids_expires ON @s.work_ids (expires_at);
-- Counters, sharded so that concurrent consumers of one queue rarely wait on one row.
CREATE TABLE @s.work_stats (
  queue text NOT NULL,
  shard int NOT NULL,
  completed bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  redelivered bigint NOT NULL DEFAULT 0,
  late_acks bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, shard)
);

-- Raises the error that explains why p_run cannot be written: gone or ended.
CREATE FUNCTION @s.refuse(p_run text, p_now double precision) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE v_status text;
BEGIN
  SELECT status INTO v_status FROM @s.runs
    WHERE id = p_run AND (expires_at IS NULL OR expires_at > p_now);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such run: %', p_run USING ERRCODE = 'RB404';
  END IF;
  RAISE EXCEPTION 'run % has ended', p_run USING ERRCODE = 'RB410';
END $f$;

CREATE FUNCTION @s.create_run(p_id text, p_meta text, p_max bigint, p_ts double precision,
  p_now double precision) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
  -- An expired run with this id is gone: clear what is left of it first.
  DELETE FROM @s.runs WHERE id = p_id AND expires_at IS NOT NULL AND expires_at <= p_now;
  IF FOUND THEN
    DELETE FROM @s.events WHERE run = p_id;
    DELETE FROM @s.inbox WHERE run = p_id;
  END IF;
  INSERT INTO @s.runs (id, status, meta, created_at, max_events)
    VALUES (p_id, 'running', p_meta, p_ts, p_max) ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % exists', p_id USING ERRCODE = 'RB409';
  END IF;
END $f$;

-- Appends a batch: consecutive seqs (the row lock on the run orders concurrent appenders),
-- one multi-row INSERT, trimming to max_events, one NOTIFY. Returns the first seq.
CREATE FUNCTION @s.append(p_run text, p_types text[], p_data text[],
  p_ts double precision[], p_now double precision) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
  n int := cardinality(p_types);
  v_last bigint;
  v_first bigint;
BEGIN
  UPDATE @s.runs SET last_seq = last_seq + n,
      first_seq = GREATEST(first_seq, last_seq + n - max_events + 1)
    WHERE id = p_run AND status = 'running'
    RETURNING last_seq, first_seq INTO v_last, v_first;
  IF NOT FOUND THEN
    PERFORM @s.refuse(p_run, p_now);
  END IF;
  INSERT INTO @s.events (run, seq, type, data, ts)
    SELECT p_run, v_last - n + u.o, u.t, u.d, u.s
    FROM unnest(p_types, p_data, p_ts) WITH ORDINALITY AS u(t, d, s, o);
  IF v_first > 1 THEN
    -- Only the seqs this batch can have pushed out of the window ([first - n, first)):
    -- never a scan over the dead rows of earlier trims.
    DELETE FROM @s.events WHERE run = p_run AND seq >= v_first - n AND seq < v_first;
  END IF;
  PERFORM pg_notify('@chan', 'l' || v_last || ':' || p_run);
  RETURN v_last - n + 1;
END $f$;

CREATE FUNCTION @s.end_run(p_run text, p_status text, p_error text, p_data text,
  p_ts double precision, p_expires double precision, p_now double precision) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
  v_last bigint;
  v_first bigint;
BEGIN
  UPDATE @s.runs SET last_seq = last_seq + 1, status = p_status, ended_at = p_ts,
      error = p_error, expires_at = p_expires,
      first_seq = GREATEST(first_seq, last_seq + 1 - max_events + 1)
    WHERE id = p_run AND status = 'running'
    RETURNING last_seq, first_seq INTO v_last, v_first;
  IF NOT FOUND THEN
    PERFORM @s.refuse(p_run, p_now);
  END IF;
  INSERT INTO @s.events (run, seq, type, data, ts) VALUES (p_run, v_last, 'end', p_data, p_ts);
  IF v_first > 1 THEN
    DELETE FROM @s.events WHERE run = p_run AND seq >= v_first - 1 AND seq < v_first;
  END IF;
  PERFORM pg_notify('@chan', 'l' || v_last || ':' || p_run);
  RETURN v_last;
END $f$;

CREATE FUNCTION @s.send_inbox(p_run text, p_type text, p_data text, p_ts double precision,
  p_now double precision) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE v_seq bigint;
BEGIN
  UPDATE @s.runs SET inbox_seq = inbox_seq + 1 WHERE id = p_run AND status = 'running'
    RETURNING inbox_seq INTO v_seq;
  IF NOT FOUND THEN
    PERFORM @s.refuse(p_run, p_now);
  END IF;
  INSERT INTO @s.inbox (run, seq, type, data, ts) VALUES (p_run, v_seq, p_type, p_data, p_ts);
  PERFORM pg_notify('@chan', 'i' || v_seq || ':' || p_run);
  RETURN v_seq;
END $f$;

-- Deletes what expired: runs (with their events and inbox), kv records, old large bus
-- messages, forgotten idempotency keys. Returns the number of runs removed.
CREATE FUNCTION @s.sweep(p_now double precision, p_bus_before double precision) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE v_gone text[];
BEGIN
  WITH gone AS (
    DELETE FROM @s.runs WHERE expires_at IS NOT NULL AND expires_at <= p_now RETURNING id
  ) SELECT array_agg(id) INTO v_gone FROM gone;
  IF v_gone IS NOT NULL THEN
    DELETE FROM @s.events WHERE run = ANY (v_gone);
    DELETE FROM @s.inbox WHERE run = ANY (v_gone);
  END IF;
  DELETE FROM @s.kv WHERE expires_at IS NOT NULL AND expires_at <= p_now;
  DELETE FROM @s.bus WHERE ts < p_bus_before;
  DELETE FROM @s.work_ids WHERE expires_at <= p_now;
  RETURN coalesce(cardinality(v_gone), 0);
END $f$;

CREATE FUNCTION @s.work_count(p_queue text, p_shard int, p_completed bigint, p_failed bigint,
  p_redelivered bigint, p_late bigint) RETURNS void
LANGUAGE sql AS $f$
  INSERT INTO @s.work_stats AS w (queue, shard, completed, failed, redelivered, late_acks)
    VALUES (p_queue, p_shard, p_completed, p_failed, p_redelivered, p_late)
  ON CONFLICT (queue, shard) DO UPDATE SET
    completed = w.completed + excluded.completed,
    failed = w.failed + excluded.failed,
    redelivered = w.redelivered + excluded.redelivered,
    late_acks = w.late_acks + excluded.late_acks
$f$;

-- Adds jobs. Keyed ids are idempotency keys (remembered p_ttl ms); the caller has already
-- marked repeats within the batch. Returns one duplicate flag per job.
CREATE FUNCTION @s.work_add(p_queue text, p_ids text[], p_keyed boolean[], p_payloads text[],
  p_delays double precision[], p_now double precision, p_ttl double precision)
  RETURNS boolean[]
LANGUAGE plpgsql AS $f$
DECLARE
  v_new text[];
  v_dups boolean[];
BEGIN
  IF true = ANY (p_keyed) THEN
    WITH k AS (
      INSERT INTO @s.work_ids AS w (queue, id, expires_at)
        SELECT p_queue, u.id, p_now + p_ttl FROM unnest(p_ids, p_keyed) AS u(id, keyed)
        WHERE u.keyed
      ON CONFLICT (queue, id) DO UPDATE SET expires_at = excluded.expires_at
        WHERE w.expires_at <= p_now
      RETURNING id
    ) SELECT array_agg(id) INTO v_new FROM k;
  END IF;
  v_new := coalesce(v_new, '{}');
  SELECT array_agg(u.keyed AND NOT (u.id = ANY (v_new)) ORDER BY u.o) INTO v_dups
    FROM unnest(p_ids, p_keyed) WITH ORDINALITY AS u(id, keyed, o);
  INSERT INTO @s.jobs (jid, queue, id, payload, state, ord, due, first_seen)
    SELECT x.v, p_queue, x.id, x.payload,
      CASE WHEN x.delay > 0 THEN 3 ELSE 0 END, x.v,
      CASE WHEN x.delay > 0 THEN p_now + x.delay END, p_now
    FROM (
      SELECT nextval('@s.job_seq') AS v, u.id, u.payload, u.delay
      FROM unnest(p_ids, p_payloads, p_delays, v_dups)
        WITH ORDINALITY AS u(id, payload, delay, dup, o)
      WHERE NOT u.dup ORDER BY u.o
    ) x;
  PERFORM pg_notify('@chan', 'w' || p_queue);
  RETURN v_dups;
END $f$;

-- Hands out up to p_max jobs: expired leases first (or to the dead letters past
-- p_max_attempts), then ready jobs in order. With nothing to hand out it returns one row
-- with jid NULL whose next_at says when something may become claimable.
CREATE FUNCTION @s.work_claim(p_queue text, p_consumer text, p_max int,
  p_vis double precision, p_max_attempts int, p_now double precision)
  RETURNS TABLE (jid bigint, id text, payload text, attempts int, delivery int,
    first_seen double precision, last_error text, redelivered boolean, ord bigint,
    next_at double precision)
LANGUAGE plpgsql AS $f$
DECLARE
  r record;
  n int := 0;
  v_redel int := 0;
  v_next double precision;
BEGIN
  UPDATE @s.jobs j SET state = 0, ord = nextval('@s.job_seq'), due = NULL
    WHERE j.jid IN (
      SELECT d.jid FROM @s.jobs d WHERE d.queue = p_queue AND d.state = 3 AND d.due <= p_now
      ORDER BY d.due LIMIT 1000 FOR UPDATE SKIP LOCKED);
  FOR r IN
    WITH e AS (
      SELECT x.jid, (p_max_attempts > 0 AND x.attempts >= p_max_attempts) AS kill
      FROM @s.jobs x WHERE x.queue = p_queue AND x.state = 1 AND x.lease_until <= p_now
      ORDER BY x.lease_until LIMIT p_max FOR UPDATE SKIP LOCKED
    )
    UPDATE @s.jobs j SET
      state = CASE WHEN e.kill THEN 2 ELSE 1 END,
      consumer = CASE WHEN e.kill THEN NULL ELSE p_consumer END,
      delivery = j.delivery + CASE WHEN e.kill THEN 0 ELSE 1 END,
      attempts = j.attempts + CASE WHEN e.kill THEN 0 ELSE 1 END,
      lease_until = CASE WHEN e.kill THEN NULL ELSE p_now + p_vis END,
      visibility = p_vis,
      dead_at = CASE WHEN e.kill THEN p_now END,
      reason = CASE WHEN e.kill THEN 'lease expired on attempt ' || j.attempts || ' of '
        || p_max_attempts || ': no answer from the consumer within the visibility timeout' END
    FROM e WHERE j.jid = e.jid
    RETURNING j.jid, j.id, j.payload, j.attempts, j.delivery, j.first_seen, j.last_error,
      j.ord, e.kill
  LOOP
    IF NOT r.kill THEN
      n := n + 1;
      v_redel := v_redel + 1;
      jid := r.jid; id := r.id; payload := r.payload; attempts := r.attempts;
      delivery := r.delivery; first_seen := r.first_seen; last_error := r.last_error;
      redelivered := true; ord := r.ord; next_at := NULL;
      RETURN NEXT;
    END IF;
  END LOOP;
  IF v_redel > 0 THEN
    PERFORM @s.work_count(p_queue, (random() * 8)::int, 0, 0, v_redel, 0);
  END IF;
  IF n < p_max THEN
    FOR r IN
      WITH f AS (
        SELECT x.jid FROM @s.jobs x WHERE x.queue = p_queue AND x.state = 0
        ORDER BY x.ord LIMIT p_max - n FOR UPDATE SKIP LOCKED
      )
      UPDATE @s.jobs j SET state = 1, consumer = p_consumer, delivery = j.delivery + 1,
        attempts = j.attempts + 1, lease_until = p_now + p_vis, visibility = p_vis
      FROM f WHERE j.jid = f.jid
      RETURNING j.jid, j.id, j.payload, j.attempts, j.delivery, j.first_seen, j.last_error,
        j.ord
    LOOP
      n := n + 1;
      jid := r.jid; id := r.id; payload := r.payload; attempts := r.attempts;
      delivery := r.delivery; first_seen := r.first_seen; last_error := r.last_error;
      redelivered := false; ord := r.ord; next_at := NULL;
      RETURN NEXT;
    END LOOP;
  END IF;
  IF n = 0 THEN
    SELECT LEAST(
      (SELECT min(x.due) FROM @s.jobs x WHERE x.queue = p_queue AND x.state = 3),
      (SELECT min(x.lease_until) FROM @s.jobs x WHERE x.queue = p_queue AND x.state = 1)
    ) INTO v_next;
    jid := NULL; id := NULL; payload := NULL; attempts := NULL; delivery := NULL;
    first_seen := NULL; last_error := NULL; redelivered := NULL; ord := NULL;
    next_at := v_next;
    RETURN NEXT;
  END IF;
END $f$;

-- Acknowledges leases (jid, delivery) of p_consumer; returns the jids acknowledged.
CREATE FUNCTION @s.work_ack(p_queue text, p_consumer text, p_jids bigint[], p_deliveries int[])
  RETURNS bigint[]
LANGUAGE plpgsql AS $f$
DECLARE
  v_done bigint[];
  v_n int;
BEGIN
  WITH d AS (
    DELETE FROM @s.jobs j USING unnest(p_jids, p_deliveries) AS l(jid, dv)
    WHERE j.jid = l.jid AND j.delivery = l.dv AND j.state = 1 AND j.consumer = p_consumer
      AND j.queue = p_queue
    RETURNING j.jid
  ) SELECT array_agg(d.jid) INTO v_done FROM d;
  v_n := coalesce(cardinality(v_done), 0);
  PERFORM @s.work_count(p_queue, (random() * 8)::int, v_n, 0, 0, cardinality(p_jids) - v_n);
  RETURN coalesce(v_done, '{}');
END $f$;

-- Settles a failed attempt: p_dead to the dead letters (p_text the reason), else back to
-- ready after p_delay ms (p_text the last error). false when the lease is stale.
CREATE FUNCTION @s.work_settle(p_queue text, p_consumer text, p_jid bigint, p_delivery int,
  p_dead boolean, p_delay double precision, p_text text, p_now double precision)
  RETURNS boolean
LANGUAGE plpgsql AS $f$
DECLARE v_ok boolean;
BEGIN
  IF p_dead THEN
    UPDATE @s.jobs SET state = 2, dead_at = p_now, reason = p_text, consumer = NULL,
        lease_until = NULL
      WHERE jid = p_jid AND queue = p_queue AND state = 1 AND consumer = p_consumer
        AND delivery = p_delivery;
  ELSIF p_delay > 0 THEN
    UPDATE @s.jobs SET state = 3, due = p_now + p_delay, last_error = p_text, consumer = NULL,
        lease_until = NULL
      WHERE jid = p_jid AND queue = p_queue AND state = 1 AND consumer = p_consumer
        AND delivery = p_delivery;
  ELSE
    UPDATE @s.jobs SET state = 0, ord = nextval('@s.job_seq'), last_error = p_text,
        consumer = NULL, lease_until = NULL
      WHERE jid = p_jid AND queue = p_queue AND state = 1 AND consumer = p_consumer
        AND delivery = p_delivery;
  END IF;
  v_ok := FOUND;
  IF v_ok THEN
    PERFORM @s.work_count(p_queue, (random() * 8)::int, 0, 1, 0, 0);
    IF NOT p_dead AND p_delay <= 0 THEN
      PERFORM pg_notify('@chan', 'w' || p_queue);
    END IF;
  ELSE
    PERFORM @s.work_count(p_queue, (random() * 8)::int, 0, 0, 0, 1);
  END IF;
  RETURN v_ok;
END $f$;

-- Renews a lease to run out p_ms from now. Returns -1 when stale (counted), the lease's
-- visibility when p_ms is out of (0, visibility], 0 when renewed.
CREATE FUNCTION @s.work_extend(p_queue text, p_consumer text, p_jid bigint, p_delivery int,
  p_ms double precision, p_now double precision) RETURNS double precision
LANGUAGE plpgsql AS $f$
DECLARE v_vis double precision;
BEGIN
  SELECT visibility INTO v_vis FROM @s.jobs
    WHERE jid = p_jid AND queue = p_queue AND state = 1 AND consumer = p_consumer
      AND delivery = p_delivery
    FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM @s.work_count(p_queue, (random() * 8)::int, 0, 0, 0, 1);
    RETURN -1;
  END IF;
  IF NOT (p_ms > 0 AND p_ms <= v_vis) THEN
    RETURN v_vis;
  END IF;
  UPDATE @s.jobs SET lease_until = p_now + p_ms WHERE jid = p_jid;
  RETURN 0;
END $f$;

-- Gives leases back: ready again at their old place, the attempt not counted.
CREATE FUNCTION @s.work_release(p_queue text, p_consumer text, p_jids bigint[],
  p_deliveries int[]) RETURNS int
LANGUAGE plpgsql AS $f$
DECLARE v_n int;
BEGIN
  WITH u AS (
    UPDATE @s.jobs j SET state = 0, attempts = j.attempts - 1, consumer = NULL,
        lease_until = NULL
    FROM unnest(p_jids, p_deliveries) AS l(jid, dv)
    WHERE j.jid = l.jid AND j.delivery = l.dv AND j.state = 1 AND j.consumer = p_consumer
      AND j.queue = p_queue
    RETURNING 1
  ) SELECT count(*) INTO v_n FROM u;
  IF v_n > 0 THEN
    PERFORM pg_notify('@chan', 'w' || p_queue);
  END IF;
  RETURN v_n;
END $f$;
`

/**
 * Version 2: inboxes are trimmed to the run's `maxInboxMessages` (as on memory and Redis),
 * not kept whole. Runs created before keep their old behaviour until they expire
 * (`max_inbox` NULL: no trimming).
 */
const V2 = String.raw`
ALTER TABLE @s.runs ADD COLUMN max_inbox bigint;

CREATE FUNCTION @s.create_run(p_id text, p_meta text, p_max bigint, p_ts double precision,
  p_now double precision, p_max_inbox bigint) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM @s.create_run(p_id, p_meta, p_max, p_ts, p_now);
  UPDATE @s.runs SET max_inbox = p_max_inbox WHERE id = p_id;
END $f$;

CREATE OR REPLACE FUNCTION @s.send_inbox(p_run text, p_type text, p_data text,
  p_ts double precision, p_now double precision) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE v_seq bigint; v_max bigint;
BEGIN
  UPDATE @s.runs SET inbox_seq = inbox_seq + 1 WHERE id = p_run AND status = 'running'
    RETURNING inbox_seq, max_inbox INTO v_seq, v_max;
  IF NOT FOUND THEN
    PERFORM @s.refuse(p_run, p_now);
  END IF;
  INSERT INTO @s.inbox (run, seq, type, data, ts) VALUES (p_run, v_seq, p_type, p_data, p_ts);
  IF v_max IS NOT NULL AND v_seq > v_max THEN
    DELETE FROM @s.inbox WHERE run = p_run AND seq <= v_seq - v_max;
  END IF;
  PERFORM pg_notify('@chan', 'i' || v_seq || ':' || p_run);
  RETURN v_seq;
END $f$;
`

/**
 * Version 3: appends and ends also return the run's incarnation (`created_at`), read under
 * the row lock the write took, so the ids they hand out name the run they wrote to (event
 * ids carry it: a run id created again is another run to a resuming reader). The inbox send
 * is replaced by `send_inbox_n`, which also returns how many older messages its trim
 * deleted, so the caller can count them.
 */
const V3 = String.raw`
CREATE FUNCTION @s.append_ep(p_run text, p_types text[], p_data text[],
  p_ts double precision[], p_now double precision, OUT first bigint, OUT epoch double precision)
LANGUAGE plpgsql AS $f$
BEGIN
  first := @s.append(p_run, p_types, p_data, p_ts, p_now);
  SELECT created_at INTO epoch FROM @s.runs WHERE id = p_run;
END $f$;

CREATE FUNCTION @s.end_run_ep(p_run text, p_status text, p_error text, p_data text,
  p_ts double precision, p_expires double precision, p_now double precision,
  OUT seq bigint, OUT epoch double precision)
LANGUAGE plpgsql AS $f$
BEGIN
  seq := @s.end_run(p_run, p_status, p_error, p_data, p_ts, p_expires, p_now);
  SELECT created_at INTO epoch FROM @s.runs WHERE id = p_run;
END $f$;

CREATE FUNCTION @s.send_inbox_n(p_run text, p_type text, p_data text, p_ts double precision,
  p_now double precision, OUT o_seq bigint, OUT o_trimmed bigint)
LANGUAGE plpgsql AS $f$
DECLARE v_max bigint;
BEGIN
  UPDATE @s.runs SET inbox_seq = inbox_seq + 1 WHERE id = p_run AND status = 'running'
    RETURNING inbox_seq, max_inbox INTO o_seq, v_max;
  IF NOT FOUND THEN
    PERFORM @s.refuse(p_run, p_now);
  END IF;
  INSERT INTO @s.inbox (run, seq, type, data, ts) VALUES (p_run, o_seq, p_type, p_data, p_ts);
  o_trimmed := 0;
  IF v_max IS NOT NULL AND o_seq > v_max THEN
    DELETE FROM @s.inbox WHERE run = p_run AND seq <= o_seq - v_max;
    GET DIAGNOSTICS o_trimmed = ROW_COUNT;
  END IF;
  PERFORM pg_notify('@chan', 'i' || o_seq || ':' || p_run);
END $f$;

-- send_inbox_n replaces it: one live inbox send, not two to keep alike.
DROP FUNCTION @s.send_inbox(text, text, text, double precision, double precision);
`

const MIGRATIONS: readonly string[] = [V1, V2, V3]

/** The SQL of migration `n` (1-based) for `schema`. */
function sqlOf(n: number, schema: string): string {
  return MIGRATIONS[n - 1].replaceAll('@s.', `"${schema}".`).replaceAll('@chan', channelOf(schema))
}

/**
 * Creates or migrates `schema` to `SCHEMA_VERSION`, in one transaction under an advisory
 * lock (processes starting at once wait for each other). Refuses a newer schema.
 *
 * `target` stops at an older version: only the migration test uses it, to build a data
 * directory as an older runbus left it.
 */
export async function migrate(
  s: Session,
  schema: string,
  target: number = SCHEMA_VERSION,
): Promise<void> {
  await s.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`runbus:${schema}`])
  await s.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
  await s.exec(
    `CREATE TABLE IF NOT EXISTS "${schema}".version (version int PRIMARY KEY, applied_at double precision NOT NULL)`,
  )
  const rows = await s.query(`SELECT coalesce(max(version), 0) AS v FROM "${schema}".version`)
  const have = Number(rows[0]?.v ?? 0)
  if (have > SCHEMA_VERSION) {
    throw new InvalidArgumentError(
      `Postgres schema "${schema}" is at version ${have}, newer than this runbus (${SCHEMA_VERSION}): upgrade runbus`,
    )
  }
  for (let n = have + 1; n <= Math.min(target, SCHEMA_VERSION); n++) {
    await s.exec(sqlOf(n, schema))
    await s.query(`INSERT INTO "${schema}".version (version, applied_at) VALUES ($1, $2)`, [
      n,
      Date.now(),
    ])
  }
}
