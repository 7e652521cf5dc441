#include "store/SqliteSchema.h"

#include <sqlite3.h>

#include <iterator>
#include <memory>
#include <stdexcept>

namespace parley::store {

namespace {

struct Migration {
  int version;
  const char* sql;
};

// Numbered steps, applied in order inside one transaction. A released step is never edited
// (databases out there already ran it): changes go into a new step.
//
// `rooms` is kept by append() in the same transaction as the messages, rather than computed
// with GROUP BY over the messages key: neither SQLite nor PostgreSQL skip-scans to each room's
// newest row, so GROUP BY would read every stored message on each rooms() call, while the table
// costs one small upsert per room per batch. Pruning never deletes a room's newest message, so a
// row here never points at a message that is gone.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE messages (
  room TEXT NOT NULL,
  id INTEGER NOT NULL,
  username TEXT NOT NULL,
  content TEXT NOT NULL,
  client_id TEXT,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX messages_client_id ON messages (room, username, client_id)
  WHERE client_id IS NOT NULL;
CREATE INDEX messages_created ON messages (created_ms);
CREATE TABLE rooms (
  room TEXT NOT NULL PRIMARY KEY,
  last_id INTEGER NOT NULL,
  last_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    // Messages move to a rowid table in arrival order with a (room, id) index beside it. Keyed
    // by (room, id), every message dirtied its room's leaf, and a WITHOUT ROWID table's interior
    // cells hold whole rows (~18 per page), so splits climb often: 2.3 pages written per message
    // in a 50-message commit over 1,000 rooms. Appended by seq, rows fill the last page, and the
    // room's leaf to dirty is an index leaf of ~30-byte entries: 1.4 pages per message.
    {2, R"sql(
CREATE TABLE messages_by_seq (
  seq INTEGER PRIMARY KEY,
  room TEXT NOT NULL,
  id INTEGER NOT NULL,
  username TEXT NOT NULL,
  content TEXT NOT NULL,
  client_id TEXT,
  created_ms INTEGER NOT NULL
);
INSERT INTO messages_by_seq (room, id, username, content, client_id, created_ms)
  SELECT room, id, username, content, client_id, created_ms FROM messages
  ORDER BY created_ms, room, id;
DROP TABLE messages;
ALTER TABLE messages_by_seq RENAME TO messages;
CREATE UNIQUE INDEX messages_room_id ON messages (room, id);
CREATE INDEX messages_client_id ON messages (room, username, client_id)
  WHERE client_id IS NOT NULL;
CREATE INDEX messages_created ON messages (created_ms);
)sql"},
    {3, R"sql(
CREATE TABLE accounts (
  name_key TEXT NOT NULL PRIMARY KEY,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
};
static_assert(std::size(kMigrations) > 0 &&
              kMigrations[std::size(kMigrations) - 1].version == kSqliteSchemaVersion);

void exec(sqlite3* db, const std::string& path, const char* sql, const char* what) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string why = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    throw std::runtime_error("sqlite " + path + ": " + what + ": " + why);
  }
}

int storedVersion(sqlite3* db, const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &raw, nullptr) != SQLITE_OK)
    throw std::runtime_error("sqlite " + path + ": " + sqlite3_errmsg(db));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> s(raw, &sqlite3_finalize);
  const int rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) return sqlite3_column_int(raw, 0);
  if (rc != SQLITE_DONE)
    throw std::runtime_error("sqlite " + path +
                             ": cannot read schema_version: " + sqlite3_errmsg(db));
  return 0;
}

}  // namespace

void migrateSqliteSchema(sqlite3* db, const std::string& path) {
  // IMMEDIATE: two servers opening one fresh file serialize here; the second sees version 1.
  exec(db, path, "BEGIN IMMEDIATE", "cannot start the schema migration");
  try {
    exec(db, path,
         "CREATE TABLE IF NOT EXISTS schema_version ("
         "singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL)",
         "cannot create schema_version");
    const int version = storedVersion(db, path);
    if (version > kSqliteSchemaVersion)
      throw std::runtime_error("database schema version " + std::to_string(version) +
                               " is newer than this parley (knows up to " +
                               std::to_string(kSqliteSchemaVersion) + "): upgrade parley");
    for (const auto& m : kMigrations)
      if (m.version > version) exec(db, path, m.sql, "schema migration failed");
    if (version < kSqliteSchemaVersion) {
      const std::string set = "INSERT INTO schema_version (singleton, version) VALUES (1, " +
                              std::to_string(kSqliteSchemaVersion) +
                              ") ON CONFLICT (singleton) DO UPDATE SET version = excluded.version";
      exec(db, path, set.c_str(), "cannot record the schema version");
    }
    exec(db, path, "COMMIT", "cannot commit the schema migration");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace parley::store
