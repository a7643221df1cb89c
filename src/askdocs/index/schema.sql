-- The derived passage index: a replica of the live chunks, rebuildable from Delta at any time.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- access: the document's access list as a JSON array (empty: everyone).
CREATE TABLE IF NOT EXISTS docs (
  document_id TEXT PRIMARY KEY, version INTEGER NOT NULL, collection TEXT NOT NULL,
  access TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS passages (
  rowid INTEGER PRIMARY KEY,
  chunk_id TEXT NOT NULL UNIQUE,
  document_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  collection TEXT NOT NULL,
  source TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  text_sha256 TEXT NOT NULL,
  start INTEGER NOT NULL,
  "end" INTEGER NOT NULL,
  page INTEGER,
  heading TEXT NOT NULL,
  live INTEGER NOT NULL DEFAULT 0,
  vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages (document_id, version);
CREATE INDEX IF NOT EXISTS passages_live ON passages (live, collection);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(heading, body, tokenize = 'porter unicode61');
