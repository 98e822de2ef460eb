-- Custos node schema, version 8 (PostgreSQL): people. Users with their roles,
-- password hash and second factor; their recovery codes; sessions opened
-- by signing in; and client-API tokens, each now owned by a user.
-- Applied migrations are checksummed: never edit this file once released;
-- the SQLite twin is ../sqlite/0008_people.sql.
--
-- No secret is kept in a usable form: passwords as Argon2id PHC strings,
-- the TOTP secret sealed under the node's storage key, recovery codes,
-- session and token secrets as SHA-256 hashes. `roles` and `scopes` are
-- role names, comma-separated.
CREATE TABLE users (
    name            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    email           TEXT,
    roles           TEXT    NOT NULL,
    enabled         BOOLEAN NOT NULL,
    password_hash   TEXT    NOT NULL,
    totp_secret     BYTEA    NOT NULL,
    -- The sign-in state: failures in a row, lock-outs so far (each one
    -- doubles the next), the end of the current lock-out, and the last
    -- TOTP time step accepted (a code is good once).
    failed_attempts BIGINT      NOT NULL DEFAULT 0,
    lockouts        BIGINT      NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    totp_last_step  BIGINT,
    created_at      TIMESTAMPTZ NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE recovery_codes (
    user_name TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    code_hash TEXT COLLATE "C" NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_name, code_hash)
);

CREATE TABLE sessions (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_name    TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    secret_hash  TEXT COLLATE "C" NOT NULL UNIQUE,
    from_addr    TEXT    NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX sessions_by_user ON sessions (user_name, created_at);

-- Tokens made before this version had no owner: they are dropped, and
-- `custos token create --user NAME` makes their successors (README,
-- "Upgrading").
DROP TABLE tokens;

CREATE TABLE api_tokens (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_name   TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    name        TEXT    NOT NULL,
    scopes      TEXT    NOT NULL,
    secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name, created_at);
