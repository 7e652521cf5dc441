#include "store/SqliteSchema.h"

#include <sqlite3.h>

#include <cstdio>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <vector>

#include "store/AccountRekey.h"
#include "store/AccountStore.h"

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
    // Names become unique by their look (accountKey: confusable skeletons), which SQL cannot
    // compute: this step makes room (accounts that now share a key are ranked, 0 holding it) and
    // keeps the old keys; rekeyAccounts() then recomputes every key in C++, in the same
    // transaction, as it does again whenever account_key_rule differs from this binary's.
    {4, R"sql(
CREATE TABLE accounts_ranked (
  name_key TEXT NOT NULL,
  key_rank INTEGER NOT NULL DEFAULT 0,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (name_key, key_rank)
) WITHOUT ROWID;
INSERT INTO accounts_ranked (name_key, key_rank, username, password_hash, created_ms)
  SELECT name_key, 0, username, password_hash, created_ms FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_ranked RENAME TO accounts;
CREATE TABLE account_key_rule (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  rule TEXT NOT NULL
);
)sql"},
    // Edits and deletes (docs/decisions/0044-moderation.md): a message remembers whether its
    // sender's name was proven (only then may its author change it), and a change is applied to
    // the row itself: a delete leaves a tombstone (deleted, content emptied), so ids keep no gaps.
    // ADD COLUMN with a constant default rewrites no row: instant on any database.
    {5, R"sql(
ALTER TABLE messages ADD COLUMN signed_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_ms INTEGER NOT NULL DEFAULT 0;
)sql"},
    // Registered rooms (docs/decisions/0045-private-rooms.md): private rooms and direct-message
    // rooms, with their members and bans, keyed by account key. A room that is not here is public
    // and unowned, as every room was before.
    {6, R"sql(
CREATE TABLE room_access (
  room TEXT NOT NULL PRIMARY KEY,
  private INTEGER NOT NULL,
  direct INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE room_members (
  room TEXT NOT NULL,
  user_key TEXT NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (room, user_key)
) WITHOUT ROWID;
CREATE TABLE room_bans (
  room TEXT NOT NULL,
  user_key TEXT NOT NULL,
  username TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (room, user_key)
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

using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

Statement prepare(sqlite3* db, const std::string& path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
    throw std::runtime_error("sqlite " + path + ": " + sqlite3_errmsg(db));
  return Statement(raw, &sqlite3_finalize);
}

std::string text(sqlite3_stmt* s, int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column))) : "";
}

void bind(sqlite3_stmt* s, int index, const std::string& value) {
  sqlite3_bind_text(s, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

// Makes every stored account key this binary's (store/AccountRekey), unless account_key_rule
// says they already are. Inside the migration's transaction.
void rekeyAccounts(sqlite3* db, const std::string& path) {
  const std::string rule = accountKeyRule();
  {
    Statement s = prepare(db, path, "SELECT rule FROM account_key_rule");
    if (sqlite3_step(s.get()) == SQLITE_ROW && text(s.get(), 0) == rule) return;
  }
  std::vector<StoredAccountKey> rows;
  {
    Statement s = prepare(db, path,
                          "SELECT name_key, key_rank, username FROM accounts "
                          "ORDER BY created_ms, name_key, key_rank");
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      rows.push_back({text(s.get(), 0), sqlite3_column_int64(s.get(), 1), text(s.get(), 2)});
    if (rc != SQLITE_DONE)
      throw std::runtime_error("sqlite " + path +
                               ": cannot read the accounts: " + sqlite3_errmsg(db));
  }
  const AccountRekeyPlan plan = planAccountRekey(rows);
  if (!plan.changes.empty()) {
    // Ranks go negative (as -1 - rank: still unique) while rows move, so no row's new key and
    // rank can meet another's old ones; those that did not move come back at the end.
    exec(db, path, "UPDATE accounts SET key_rank = -1 - key_rank", "cannot rekey the accounts");
    Statement s = prepare(db, path,
                          "UPDATE accounts SET name_key = ?1, key_rank = ?2, username = ?3 "
                          "WHERE name_key = ?4 AND key_rank = ?5");
    for (const AccountKeyChange& c : plan.changes) {
      bind(s.get(), 1, c.newKey);
      sqlite3_bind_int64(s.get(), 2, c.newRank);
      bind(s.get(), 3, c.newUsername);
      bind(s.get(), 4, c.oldKey);
      sqlite3_bind_int64(s.get(), 5, -1 - c.oldRank);
      if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db) != 1)
        throw std::runtime_error("sqlite " + path + ": cannot rekey the account \"" +
                                 c.newUsername + "\": " + sqlite3_errmsg(db));
      sqlite3_reset(s.get());
    }
    exec(db, path, "UPDATE accounts SET key_rank = -1 - key_rank WHERE key_rank < 0",
         "cannot rekey the accounts");
  }
  Statement s = prepare(db, path,
                        "INSERT INTO account_key_rule (singleton, rule) VALUES (1, ?1) "
                        "ON CONFLICT (singleton) DO UPDATE SET rule = excluded.rule");
  bind(s.get(), 1, rule);
  if (sqlite3_step(s.get()) != SQLITE_DONE)
    throw std::runtime_error("sqlite " + path +
                             ": cannot record the account key rule: " + sqlite3_errmsg(db));
  if (plan.accounts > 0)
    std::fprintf(stderr,
                 "sqlite %s: account keys made by %s: %zu of %zu accounts changed, %zu share "
                 "their name's key with an older account (both keep logging in)\n",
                 path.c_str(), rule.c_str(), plan.changes.size(), plan.accounts, plan.sharing);
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
    rekeyAccounts(db, path);
    exec(db, path, "COMMIT", "cannot commit the schema migration");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace parley::store
