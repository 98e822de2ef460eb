-- Custos node schema, version 6 (SQLite): no case content in clear.
-- Applied migrations are checksummed: never edit this file once released;
-- the PostgreSQL twin is ../postgres/0006_sealed_content.sql.
--
-- `requests.body` held each request's draft as clear JSON, a copy that
-- nothing bound to the signed message. It goes. A request opened by a
-- submission message takes its draft from that message's signed envelope
-- (which the node keeps sealed under its storage key, and checks against
-- its signature and ledger entry on every read), so its copy is dropped.
-- A request recorded without a message (`custos request save`) keeps its
-- draft in `draft`, which the node fills with the draft sealed under its
-- storage key; drafts saved before this version are moved there as their
-- JSON text, and the node seals them the next time it opens the store
-- (the key is a file the database never sees).
ALTER TABLE requests ADD COLUMN draft BLOB;

UPDATE requests SET draft = CAST(body AS BLOB)
WHERE NOT EXISTS (
    SELECT 1 FROM messages m WHERE m.thread = requests.id AND m.kind = 'submit'
);

ALTER TABLE requests DROP COLUMN body;
