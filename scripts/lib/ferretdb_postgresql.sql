-- Makes FerretDB 1.24 on PostgreSQL behave like MongoDB in two ways the read model relies on.
-- Applied by `scripts/stack start` to the `ferretdb` database; idempotent. It changes no data
-- and no FerretDB code; production runs on MongoDB, which needs neither.
--
-- 1. Indexes that serve equality filters. FerretDB pushes `{field: value}` down as
--    `_jsonb -> 'field' @> value`, but the indexes it creates (its own `_id` index and every
--    createIndexes) are btree indexes on `_jsonb -> 'field'`, which PostgreSQL cannot use for
--    `@>`: every lookup, even by `_id`, scanned the whole table. Each index FerretDB creates
--    gets a GIN (jsonb_path_ops) companion on its leading expression, which `@>` can use.
--    Without `fastupdate`: every FerretDB update rewrites the row and so adds index entries,
--    and a pending list of them would be scanned by every lookup until a vacuum flushes it.
--
-- 2. Atomic single-document updates. FerretDB updates a document by reading it, applying the
--    operators in Go and overwriting the whole row (`UPDATE ... SET _jsonb = $1 WHERE _id = $2`)
--    with no row lock in between, so two concurrent updates of one document lose one of them.
--    MongoDB applies each update atomically. Every update the projector makes increments
--    `_writes`; this row trigger refuses an overwrite whose `_writes` is not exactly one more
--    than the stored row's (the writer read a stale copy) with SQLSTATE 40001, and the
--    projector retries the update (projections/store.py). Documents without `_writes` are
--    not affected.

CREATE OR REPLACE FUNCTION ferretdb_refuse_lost_update() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW._jsonb ? '_writes' AND (NEW._jsonb -> '_writes')::numeric
       IS DISTINCT FROM coalesce((OLD._jsonb -> '_writes')::numeric, 0) + 1 THEN
    RAISE EXCEPTION 'concurrent write to document %: retry', OLD._jsonb -> '_id'
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE OR REPLACE FUNCTION ferretdb_index_companions() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
  def text;
  tbl text;
  idx text;
  m text[];
BEGIN
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
    def := pg_get_indexdef(cmd.objid);
    CONTINUE WHEN def ~ 'USING gin' OR def ~ '_ferretdb_database_metadata';
    SELECT format('%I.%I', n.nspname, t.relname), c.relname INTO tbl, idx
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE i.indexrelid = cmd.objid;
    -- the leading key only: FerretDB pushes down equality alone, and an index's leading key is
    -- the one queries test for equality (later keys are sort keys, or `_id`, indexed already)
    m := regexp_match(def, '_jsonb -> ''([^'']+)''::text');
    IF m IS NOT NULL THEN
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L) jsonb_path_ops) '
                     'WITH (fastupdate = off)',
                     left(idx, 40) || '_' || left(md5(m[1]), 8) || '_gin', tbl, m[1]);
    END IF;
    -- every collection table gets FerretDB's `_id` index when it is created
    EXECUTE format('CREATE OR REPLACE TRIGGER ferretdb_refuse_lost_update BEFORE UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION ferretdb_refuse_lost_update()', tbl);
  END LOOP;
END
$fn$;

SET client_min_messages = warning;
DROP EVENT TRIGGER IF EXISTS ferretdb_gin_companions;
DROP FUNCTION IF EXISTS ferretdb_gin_companions();
DROP EVENT TRIGGER IF EXISTS ferretdb_index_companions;
CREATE EVENT TRIGGER ferretdb_index_companions ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION ferretdb_index_companions();
