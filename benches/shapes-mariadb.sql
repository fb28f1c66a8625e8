-- Batch statement shapes for MariaDB, run inside the server (no lethe, no network round trips),
-- so that only the statement shape differs. Loaded by scripts/bench.sh (shape comparison); by hand:
--   mysql DB < benches/shapes-mariadb.sql
--   CALL lethe_bench_loop('delete', 'current', '2026-08-25 00:00:00', 1000);
-- Each batch is its own transaction (COMMIT per batch), like lethe's.
--
-- action: delete | update (the SQL-side anonymize: email, full_name, ip = NULL, phone = '[redacted]')
-- shape:
--   current  what lethe issues today (src/store/statements.rs, `bounded`, MySql dialect):
--            ... WHERE <due> ORDER BY id LIMIT n
--   clock    ... WHERE <due> ORDER BY created_at, id LIMIT n   (walks the created_at index in order)
--   range    keyset: hi := the n-th due key after `last`; then
--            ... WHERE id > last AND id <= hi AND <due>; last := hi
DROP PROCEDURE IF EXISTS lethe_bench_loop;
DELIMITER //
CREATE PROCEDURE lethe_bench_loop(action VARCHAR(10), shape VARCHAR(10), cut DATETIME, lim INT)
BEGIN
  DECLARE n BIGINT DEFAULT 1;
  DECLARE last BIGINT DEFAULT -9223372036854775807;
  DECLARE hi BIGINT;
  IF action NOT IN ('delete', 'update') OR shape NOT IN ('current', 'clock', 'range') THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'unknown action or shape';
  END IF;
  WHILE n > 0 DO
    IF shape = 'current' AND action = 'delete' THEN
      DELETE FROM leads WHERE (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
        ORDER BY id LIMIT lim;
      SET n = ROW_COUNT();
    ELSEIF shape = 'current' THEN
      UPDATE leads SET email = NULL, full_name = NULL, ip = NULL, phone = '[redacted]'
        WHERE (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
          AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL OR (phone IS NOT NULL AND phone <> '[redacted]'))
        ORDER BY id LIMIT lim;
      SET n = ROW_COUNT();
    ELSEIF shape = 'clock' AND action = 'delete' THEN
      DELETE FROM leads WHERE (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
        ORDER BY created_at, id LIMIT lim;
      SET n = ROW_COUNT();
    ELSEIF shape = 'clock' THEN
      UPDATE leads SET email = NULL, full_name = NULL, ip = NULL, phone = '[redacted]'
        WHERE (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
          AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL OR (phone IS NOT NULL AND phone <> '[redacted]'))
        ORDER BY created_at, id LIMIT lim;
      SET n = ROW_COUNT();
    ELSE
      SET hi = NULL;
      IF action = 'delete' THEN
        SELECT MAX(id) INTO hi FROM (SELECT id FROM leads WHERE id > last
          AND (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
          ORDER BY id LIMIT lim) AS b;
      ELSE
        SELECT MAX(id) INTO hi FROM (SELECT id FROM leads WHERE id > last
          AND (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
          AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL OR (phone IS NOT NULL AND phone <> '[redacted]'))
          ORDER BY id LIMIT lim) AS b;
      END IF;
      IF hi IS NULL THEN
        SET n = 0;
      ELSEIF action = 'delete' THEN
        DELETE FROM leads WHERE id > last AND id <= hi
          AND (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut);
        SET last = hi;
      ELSE
        UPDATE leads SET email = NULL, full_name = NULL, ip = NULL, phone = '[redacted]'
          WHERE id > last AND id <= hi
            AND (NOT (created_at IS NULL OR created_at < '0001-01-01') AND created_at < cut)
            AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL OR (phone IS NOT NULL AND phone <> '[redacted]'));
        SET last = hi;
      END IF;
    END IF;
    COMMIT;
  END WHILE;
END //
DELIMITER ;
