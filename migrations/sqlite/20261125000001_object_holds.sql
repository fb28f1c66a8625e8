-- Runtime holds over objects: every object whose key starts with `prefix`, in an object store.
-- `table_name` is empty for them.
ALTER TABLE lethe_holds ADD COLUMN prefix TEXT NULL;
