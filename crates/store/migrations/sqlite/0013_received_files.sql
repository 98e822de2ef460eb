-- Custos node schema, version 13 (SQLite): the index of what other States
-- provided, for the use limits (issue 18).
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0013_received_files.sql.
--
-- `received_packages`: every evidence package received from another State
-- (its id), the State that provided it and the request it answers. The
-- node fills it when a package is received, and lazily for packages
-- received before this version.
CREATE TABLE received_packages (
    package_id TEXT NOT NULL PRIMARY KEY,
    provider   TEXT NOT NULL,
    request    TEXT NOT NULL
) STRICT;

-- `received_files`: the SHA-256 of every file of every received package
-- (as its signed manifest lists it), so that sealing such a file for a
-- State other than its provider can be refused without consent. Hashes
-- only: no name, no content.
CREATE TABLE received_files (
    sha256     TEXT NOT NULL,
    package_id TEXT NOT NULL REFERENCES received_packages (package_id),
    PRIMARY KEY (sha256, package_id)
) STRICT;
