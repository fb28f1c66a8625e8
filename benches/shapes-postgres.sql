-- Batch statement shapes for PostgreSQL, run inside the server (no lethe, no network round trips),
-- so that only the statement shape differs. Loaded by scripts/bench.sh (shape comparison); by hand:
--   psql -d DB -f benches/shapes-postgres.sql
--   CALL lethe_bench_loop('delete', 'current', '2026-08-25 00:00:00+00', 1000);
-- Each batch is its own transaction (COMMIT per batch), like lethe's.
--
-- action: delete | update (the SQL-side anonymize: email, full_name, ip = NULL, phone = '[redacted]')
-- shape:
--   current  what lethe issues today (src/store/statements.rs, `bounded`):
--            ... WHERE id IN (SELECT id FROM leads WHERE <due> ORDER BY id LIMIT n) AND <due>
--   array    ... WHERE id = ANY(ARRAY(SELECT id FROM leads WHERE <due> ORDER BY id LIMIT n)) AND <due>
--            (the key list becomes an InitPlan: the planner cannot turn it into a hash join over all due rows)
--   range    keyset: hi := the n-th due key after `last`; then
--            ... WHERE id > last AND id <= hi AND <due>; last := hi
--            (each batch starts where the previous one ended instead of rescanning from the first key)
-- <due> is the condition lethe builds for a `clock: { column: created_at }` policy without selector,
-- plus, for update, the "not yet anonymized" test.
CREATE OR REPLACE PROCEDURE lethe_bench_loop(action text, shape text, cut timestamptz, lim int)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint := 1;
  last bigint := -9223372036854775807;
  hi bigint;
  due text := '(NOT created_at IS NULL AND created_at < $1)';
  head text;
BEGIN
  IF action = 'update' THEN
    due := due || ' AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL'
               || ' OR (phone IS NOT NULL AND phone <> ''[redacted]''))';
    head := 'UPDATE leads SET email = NULL, full_name = NULL, ip = NULL, phone = ''[redacted]''';
  ELSIF action = 'delete' THEN
    head := 'DELETE FROM leads';
  ELSE
    RAISE EXCEPTION 'unknown action %', action;
  END IF;
  WHILE n > 0 LOOP
    IF shape = 'current' THEN
      EXECUTE head || ' WHERE id IN (SELECT id FROM leads WHERE ' || due || ' ORDER BY id LIMIT ' || lim
              || ') AND ' || due USING cut;
      GET DIAGNOSTICS n = ROW_COUNT;
    ELSIF shape = 'array' THEN
      EXECUTE head || ' WHERE id = ANY(ARRAY(SELECT id FROM leads WHERE ' || due || ' ORDER BY id LIMIT '
              || lim || ')) AND ' || due USING cut;
      GET DIAGNOSTICS n = ROW_COUNT;
    ELSIF shape = 'range' THEN
      EXECUTE 'SELECT max(id) FROM (SELECT id FROM leads WHERE id > $2 AND ' || due || ' ORDER BY id LIMIT '
              || lim || ') b' INTO hi USING cut, last;
      IF hi IS NULL THEN
        n := 0;
      ELSE
        EXECUTE head || ' WHERE id > $2 AND id <= $3 AND ' || due USING cut, last, hi;
        n := 1;  -- the range held due keys; go on even if all changed meanwhile
        last := hi;
      END IF;
    ELSE
      RAISE EXCEPTION 'unknown shape %', shape;
    END IF;
    COMMIT;
  END LOOP;
END $$;
