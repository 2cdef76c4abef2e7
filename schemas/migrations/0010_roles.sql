-- Database roles per component, so that each process holds only the rights its work needs.
--
-- Four group roles (NOLOGIN); a deployment creates LOGIN users that are members of them and
-- gives each process its own DATABASE_URL (README, "Security" and "Operations"):
--
--   loopync_app        the HTTP API: appends events and reads them, writes what a request
--                      writes (idempotency records, snapshots, failed sign-ins, webhook
--                      receipts), reads the read models in `read_models` and
--                      `private_read_models`, the projections' checkpoints and live updates.
--   loopync_workers    projections, housekeeping and scheduled jobs: reads events (and appends
--                      the jobs' events, such as expired holds), owns the read models (creates
--                      each generation's schema and views at run time), writes checkpoints,
--                      dead letters and live updates, sweeps what expires.
--   loopync_analysts   the views in `read_models` only: not `private_read_models` (email
--                      addresses, phone numbers, IP addresses), not the generations' tables,
--                      not `events` (identity's events carry email addresses and phone numbers).
--   loopync_auditors   what analysts read, plus `events` and `command_log`: the ledger audit
--                      (`loopync audit ledger`) replays the event log. Reading the log means
--                      reading the personal data in it, which is why this is a role of its own.
--
-- None of them may UPDATE or DELETE `events` (nor would the append-only trigger of
-- 0007_events_append_only.sql let them), nor create anything outside the projections'
-- schemas; the migrations themselves run as the tables' owner (`loopync migrate`).
--
-- Roles belong to the whole PostgreSQL cluster, not to one database: every database migrated
-- on a cluster shares them (tests migrate many at once), so creating one is idempotent and
-- race-safe — a concurrent migration that created it first is a unique violation (or
-- duplicate_object), caught. What is granted on a role itself (membership, comments) is done
-- only by the migration that created it, since two transactions updating one shared row fail
-- with "tuple concurrently updated" rather than wait. Grants on this database's objects are
-- per database and need no such care.
--
-- Read models are made at run time, after this migration: the projection runner creates each
-- generation's schema and the views over it as `loopync_workers` (SET ROLE, so that whichever
-- worker login created them, any other can replace them), and grants SELECT on each view as it
-- creates it: `read_models` views to loopync_app, loopync_analysts and loopync_auditors,
-- `private_read_models` views to loopync_app only (`projections/src/projection.rs`,
-- `point_views`).

DO $$
DECLARE
    wanted text[][] := ARRAY[
        ['loopync_app', 'Loopync HTTP API: appends and reads events, reads the read models'],
        ['loopync_workers', 'Loopync workers: projections, housekeeping, scheduled jobs; own the read models'],
        ['loopync_analysts', 'Loopync analysts: the views in read_models only'],
        ['loopync_auditors', 'Loopync auditors: read_models views, events and command_log, read only']];
    i int;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted[i][1]) THEN
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', wanted[i][1]);
            EXECUTE format('COMMENT ON ROLE %I IS %L', wanted[i][1], wanted[i][2]);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            -- Another database's migration created it a moment ago: it is there, as wanted.
            NULL;
        END;
    END LOOP;
END
$$;

-- `projections status` names each projection's owner (another login's session) and the event
-- log's metrics see how old the oldest open transaction is: both read pg_stat_activity, which
-- hides other users' sessions without pg_read_all_stats. Granting it takes a superuser; a
-- migration run by a non-superuser says so and goes on (grant it by hand, or live without).
DO $$
BEGIN
    IF NOT pg_has_role('loopync_workers', 'pg_read_all_stats', 'MEMBER') THEN
        BEGIN
            GRANT pg_read_all_stats TO loopync_workers;
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'loopync_workers was not granted pg_read_all_stats (needs a superuser): '
                             '`projections status` may not name owners logged in as other users';
            WHEN duplicate_object OR unique_violation THEN
                NULL;
        END;
    END IF;
END
$$;

-- Schemas. Nobody but the owner creates anything in `public`; the workers create the views
-- (CREATE on the view schemas) and the generations' schemas (CREATE on the database).
GRANT USAGE ON SCHEMA public TO loopync_app, loopync_workers, loopync_analysts, loopync_auditors;
GRANT USAGE ON SCHEMA read_models TO loopync_app, loopync_workers, loopync_analysts, loopync_auditors;
GRANT USAGE ON SCHEMA private_read_models TO loopync_app, loopync_workers;
GRANT CREATE ON SCHEMA read_models, private_read_models TO loopync_workers;
DO $$
BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO loopync_workers', current_database());
END
$$;

-- The event store. Appends go through append_events (0002), which runs with the caller's
-- rights: INSERT on events and command_log. The identity column needs no sequence grant.
GRANT SELECT, INSERT ON events TO loopync_app, loopync_workers;
GRANT SELECT ON events TO loopync_auditors;
GRANT SELECT, INSERT ON command_log TO loopync_app;
-- Workers' jobs append too (with keys or without), and housekeeping expires old keys.
GRANT SELECT, INSERT, DELETE ON command_log TO loopync_workers;
GRANT SELECT ON command_log TO loopync_auditors;
-- Snapshots are written in the background by whichever process ran the command.
GRANT SELECT, INSERT, UPDATE ON snapshots TO loopync_app, loopync_workers;

-- The projections' bookkeeping: the API waits on checkpoints (read-your-writes) and reports
-- them in /ready; analysts and auditors read which generation is live.
GRANT SELECT ON projections, projection_checkpoints, projection_dead_letters TO loopync_app;
GRANT SELECT, INSERT, UPDATE ON projections TO loopync_workers;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints TO loopync_workers;
GRANT SELECT, INSERT, DELETE ON projection_dead_letters TO loopync_workers;
GRANT SELECT ON projections, projection_checkpoints TO loopync_analysts, loopync_auditors;

-- Live updates: written by the projections' batches, read by the gateway, swept by housekeeping.
GRANT SELECT ON live_cursors, live_updates TO loopync_app;
GRANT SELECT, INSERT, UPDATE ON live_cursors TO loopync_workers;
GRANT SELECT, INSERT, DELETE ON live_updates TO loopync_workers;

-- What requests write besides events; housekeeping sweeps the old rows.
GRANT SELECT, INSERT, DELETE ON auth_failures TO loopync_app;
GRANT SELECT, DELETE ON auth_failures TO loopync_workers;
GRANT SELECT, INSERT ON looppay_webhook_receipts TO loopync_app;
GRANT SELECT, DELETE ON looppay_webhook_receipts TO loopync_workers;

-- `serve` and `/ready` compare the applied migrations with the binary's (read only: only the
-- owner migrates).
GRANT SELECT ON _sqlx_migrations TO loopync_app, loopync_workers;

-- Read models made before this migration: hand them to loopync_workers, as the runner now
-- makes them, and grant their views as it now does. (A migrating user that is not a superuser
-- must be a member of loopync_workers to give it objects; it is made one if need be.)
DO $$
DECLARE
    object record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname LIKE 'proj\_%')
       AND NOT pg_has_role('loopync_workers', 'MEMBER') THEN
        EXECUTE format('GRANT loopync_workers TO %I', current_user);
    END IF;
    FOR object IN
        SELECT n.nspname AS schema_name FROM pg_namespace n WHERE n.nspname LIKE 'proj\_%'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO loopync_workers', object.schema_name);
    END LOOP;
    FOR object IN
        SELECT n.nspname AS schema_name, c.relname AS table_name, c.relkind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE (n.nspname LIKE 'proj\_%' AND c.relkind IN ('r', 'p', 'v', 'm'))
            OR (n.nspname IN ('read_models', 'private_read_models') AND c.relkind = 'v')
    LOOP
        EXECUTE format('ALTER TABLE %I.%I OWNER TO loopync_workers', object.schema_name, object.table_name);
        IF object.schema_name = 'read_models' THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO loopync_app, loopync_analysts, loopync_auditors',
                           object.schema_name, object.table_name);
        ELSIF object.schema_name = 'private_read_models' THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO loopync_app', object.schema_name, object.table_name);
        END IF;
    END LOOP;
END
$$;
