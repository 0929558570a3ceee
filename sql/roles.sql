-- dupFinder: least privilege on a shared PostgreSQL catalog (issue 12; README, "One catalog for all your
-- machines").
--
-- One PostgreSQL role per machine. Every such role reads every row of the catalog, and inserts, updates and
-- deletes only the rows of its own host: row-level security on file_hashes and scan_metadata compares a row's
-- host with the hosts that the table dupfinder_host_roles gives to the connected role. A role may hold several
-- hosts; a host belongs to one role. The roles are members of a group role named after the database,
-- <database>_hosts (dupfinder_hosts for a database called dupfinder), which holds the privileges.
--
-- Run it once the catalog has its tables (the first dupFinder run, as the role that is to own them, makes
-- them), in the catalog's database, as a superuser or as the tables' owner if that role may create roles:
--
--     psql -v ON_ERROR_STOP=1 -d dupfinder -f sql/roles.sql
--
-- It can be run again at any time (after a schema upgrade, for instance); it changes nothing twice. Then, for
-- each machine, as a role that may create roles (here the machine "laptop", whose role is also "laptop"):
--
--     CREATE ROLE laptop LOGIN PASSWORD 'choose one' IN ROLE dupfinder_hosts;
--     INSERT INTO dupfinder_host_roles (host, role) VALUES ('laptop', 'laptop');
--
-- and on the machine, dupFinder connects as that role and scans as that host (--host, "host" in config.json,
-- else the machine's host name, which must then be the host given here). The owner of the tables is not
-- bound by these policies: it runs the schema upgrades (python3 -m dupfinder.schema URL) and may repair.

BEGIN;

-- Which role may write the rows of which host.
CREATE TABLE IF NOT EXISTS dupfinder_host_roles (
    host varchar(255) PRIMARY KEY,
    role name NOT NULL
);

DO $$
DECLARE
    hosts name := current_database() || '_hosts';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = hosts) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', hosts);
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), hosts);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', hosts);
    -- no TRUNCATE, no DDL: only rows, and only through the policies below
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON file_hashes, scan_metadata TO %I', hosts);
    EXECUTE format('GRANT USAGE ON SEQUENCE file_hashes_id_seq, scan_metadata_id_seq TO %I', hosts);
    -- the schema revision, read by every dupFinder at start-up; the map of hosts, read by the policies
    EXECUTE format('GRANT SELECT ON alembic_version, dupfinder_host_roles TO %I', hosts);
END $$;

ALTER TABLE file_hashes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS dupfinder_read ON file_hashes;
CREATE POLICY dupfinder_read ON file_hashes FOR SELECT USING (true);
DROP POLICY IF EXISTS dupfinder_own_host ON file_hashes;
CREATE POLICY dupfinder_own_host ON file_hashes FOR ALL
    USING (host IN (SELECT h.host FROM dupfinder_host_roles h WHERE h.role = current_user))
    WITH CHECK (host IN (SELECT h.host FROM dupfinder_host_roles h WHERE h.role = current_user));

ALTER TABLE scan_metadata ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS dupfinder_read ON scan_metadata;
CREATE POLICY dupfinder_read ON scan_metadata FOR SELECT USING (true);
DROP POLICY IF EXISTS dupfinder_own_host ON scan_metadata;
CREATE POLICY dupfinder_own_host ON scan_metadata FOR ALL
    USING (host IN (SELECT h.host FROM dupfinder_host_roles h WHERE h.role = current_user))
    WITH CHECK (host IN (SELECT h.host FROM dupfinder_host_roles h WHERE h.role = current_user));

COMMIT;
