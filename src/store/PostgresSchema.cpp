#include "store/PostgresSchema.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <vector>

#include "store/AccountRekey.h"
#include "store/AccountStore.h"
#include "store/PostgresError.h"

namespace parley::store {

namespace {

// Key of the transaction-scoped advisory lock that serializes schema migrations between
// servers starting at the same time ("parley" in ASCII).
constexpr const char* kMigrationLockKey = "123563833845113";

struct Migration {
  int version;
  const char* sql;
};

// Numbered steps, applied in order inside one transaction under the advisory lock. A released
// step is never edited (databases out there already ran it): changes go into a new step.
//
// COLLATE "C": room names compare as bytes, as in SQLite, and faster than a locale would.
// `rooms` is kept by append() in the same statement as the messages, rather than computed with
// GROUP BY over the messages key: PostgreSQL does not skip-scan to each room's newest row, so
// GROUP BY would read every stored message on each rooms() call, while the table costs one
// small upsert per room per batch. Pruning never deletes a room's newest message, so a row here
// never points at a message that is gone.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE messages (
  room TEXT COLLATE "C" NOT NULL,
  id BIGINT NOT NULL,
  username TEXT NOT NULL,
  content TEXT NOT NULL,
  client_id TEXT,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (room, id)
);
CREATE INDEX messages_client_id ON messages (room, username, client_id)
  WHERE client_id IS NOT NULL;
CREATE INDEX messages_created ON messages (created_ms);
CREATE TABLE rooms (
  room TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  last_id BIGINT NOT NULL,
  last_ms BIGINT NOT NULL
);
)sql"},
    {2, R"sql(
CREATE TABLE accounts (
  name_key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql"},
    // Names become unique by their look (accountKey: confusable skeletons), which SQL cannot
    // compute: this step makes room (accounts that now share a key are ranked, 0 holding it) and
    // keeps the old keys; rekeyAccounts() then recomputes every key in C++, in the same
    // transaction, as it does again whenever account_key_rule differs from this binary's.
    {3, R"sql(
ALTER TABLE accounts ADD COLUMN key_rank BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts DROP CONSTRAINT accounts_pkey;
ALTER TABLE accounts ADD PRIMARY KEY (name_key, key_rank);
CREATE TABLE account_key_rule (
  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  rule TEXT NOT NULL
);
)sql"},
    // Edits and deletes (docs/decisions/0044-moderation.md): whether the sender's name was
    // proven, and a change applied to the row itself (a delete leaves a tombstone: ids keep no
    // gaps). ADD COLUMN with a constant default rewrites no row (PostgreSQL 11 and later).
    {4, R"sql(
ALTER TABLE messages ADD COLUMN signed_in BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN edited_ms BIGINT NOT NULL DEFAULT 0;
)sql"},
    // Registered rooms (docs/decisions/0045-private-rooms.md): private rooms and direct-message
    // rooms, with their members and bans, keyed by account key. A room that is not here is public
    // and unowned, as every room was before.
    {5, R"sql(
CREATE TABLE room_access (
  room TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  private BOOLEAN NOT NULL,
  direct BOOLEAN NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE room_members (
  room TEXT COLLATE "C" NOT NULL REFERENCES room_access (room),
  user_key TEXT COLLATE "C" NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (room, user_key)
);
CREATE TABLE room_bans (
  room TEXT COLLATE "C" NOT NULL REFERENCES room_access (room),
  user_key TEXT COLLATE "C" NOT NULL,
  username TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (room, user_key)
);
)sql"},
};
static_assert(std::size(kMigrations) > 0 &&
              kMigrations[std::size(kMigrations) - 1].version == kPostgresSchemaVersion);

using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// Rows moved per UPDATE when rekeying: one statement per chunk, not a round trip per account.
constexpr std::size_t kRekeyChunk = 5'000;

// One element of a PostgreSQL array literal, quoted (names may hold commas, quotes, braces).
void appendArrayText(std::string& out, const std::string& value) {
  out += out.size() > 1 ? ",\"" : "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void appendArrayNumber(std::string& out, std::int64_t value) {
  if (out.size() > 1) out += ',';
  out += std::to_string(value);
}

// Makes every stored account key this binary's (store/AccountRekey), unless account_key_rule
// says they already are. Inside the migration's transaction, under its advisory lock.
template <class Run, class RunParams>
void rekeyAccounts(const Run& run, const RunParams& runParams, const std::string& where) {
  const std::string rule = accountKeyRule();
  {
    Result r = run("SELECT rule FROM account_key_rule");
    if (PQntuples(r.get()) > 0 && PQgetvalue(r.get(), 0, 0) == rule) return;
  }
  std::vector<StoredAccountKey> rows;
  {
    Result r =
        run("SELECT name_key, key_rank, username FROM accounts "
            "ORDER BY created_ms, name_key COLLATE \"C\", key_rank");
    const int n = PQntuples(r.get());
    rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::int64_t rank = 0;
      const char* p = PQgetvalue(r.get(), i, 1);
      std::from_chars(p, p + PQgetlength(r.get(), i, 1), rank);
      rows.push_back({PQgetvalue(r.get(), i, 0), rank, PQgetvalue(r.get(), i, 2)});
    }
  }
  const AccountRekeyPlan plan = planAccountRekey(rows);
  if (!plan.changes.empty()) {
    // Ranks go negative (as -1 - rank: still unique) while rows move, so no row's new key and
    // rank can meet another's old ones; those that did not move come back at the end.
    run("UPDATE accounts SET key_rank = -1 - key_rank");
    for (std::size_t from = 0; from < plan.changes.size(); from += kRekeyChunk) {
      std::string newKeys = "{", newRanks = "{", newNames = "{", oldKeys = "{", oldRanks = "{";
      const std::size_t to = std::min(plan.changes.size(), from + kRekeyChunk);
      for (std::size_t i = from; i < to; ++i) {
        const AccountKeyChange& c = plan.changes[i];
        appendArrayText(newKeys, c.newKey);
        appendArrayNumber(newRanks, c.newRank);
        appendArrayText(newNames, c.newUsername);
        appendArrayText(oldKeys, c.oldKey);
        appendArrayNumber(oldRanks, -1 - c.oldRank);
      }
      for (std::string* a : {&newKeys, &newRanks, &newNames, &oldKeys, &oldRanks}) *a += '}';
      Result r = runParams(
          "UPDATE accounts a SET name_key = c.new_key, key_rank = c.new_rank, "
          "username = c.new_name "
          "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[]) "
          "AS c(new_key, new_rank, new_name, old_key, old_rank) "
          "WHERE a.name_key = c.old_key AND a.key_rank = c.old_rank",
          std::array<const char*, 5>{newKeys.c_str(), newRanks.c_str(), newNames.c_str(),
                                     oldKeys.c_str(), oldRanks.c_str()});
      const char* moved = PQcmdTuples(r.get());
      if (std::to_string(to - from) != moved)
        throw std::runtime_error("postgres " + where + ": rekeying the accounts moved " + moved +
                                 " of " + std::to_string(to - from) + " rows");
    }
    run("UPDATE accounts SET key_rank = -1 - key_rank WHERE key_rank < 0");
  }
  runParams(
      "INSERT INTO account_key_rule (singleton, rule) VALUES (TRUE, $1) "
      "ON CONFLICT (singleton) DO UPDATE SET rule = EXCLUDED.rule",
      std::array<const char*, 1>{rule.c_str()});
  if (plan.accounts > 0)
    std::fprintf(stderr,
                 "postgres %s: account keys made by %s: %zu of %zu accounts changed, %zu share "
                 "their name's key with an older account (both keep logging in)\n",
                 where.c_str(), rule.c_str(), plan.changes.size(), plan.accounts, plan.sharing);
}

}  // namespace

void migratePostgresSchema(PGconn* c, const std::string& where) {
  auto checked = [&](Result r) {
    const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw std::runtime_error("postgres " + where +
                               ": schema migration failed: " + postgresError(r.get(), c));
    return r;
  };
  auto run = [&](const std::string& sql) {
    return checked(Result(PQexec(c, sql.c_str()), &PQclear));
  };
  auto runParams = [&](const char* sql, const auto& params) {
    return checked(Result(PQexecParams(c, sql, static_cast<int>(params.size()), nullptr,
                                       params.data(), nullptr, nullptr, 0),
                          &PQclear));
  };
  run("BEGIN");
  try {
    // No timeout here: waiting for another server's migration, or a long one, is expected.
    run("SET LOCAL statement_timeout = 0");
    run(std::string("SELECT pg_advisory_xact_lock(") + kMigrationLockKey + ")");
    run("CREATE TABLE IF NOT EXISTS schema_version ("
        "singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), version INTEGER NOT NULL)");
    Result v = run("SELECT version FROM schema_version");
    int version = 0;
    if (PQntuples(v.get()) > 0) {
      const char* p = PQgetvalue(v.get(), 0, 0);
      std::from_chars(p, p + PQgetlength(v.get(), 0, 0), version);
    }
    if (version > kPostgresSchemaVersion)
      throw std::runtime_error("database schema version " + std::to_string(version) +
                               " is newer than this parley (knows up to " +
                               std::to_string(kPostgresSchemaVersion) + "): upgrade parley");
    for (const auto& m : kMigrations)
      if (m.version > version) run(m.sql);
    if (version < kPostgresSchemaVersion)
      run("INSERT INTO schema_version (singleton, version) VALUES (TRUE, " +
          std::to_string(kPostgresSchemaVersion) +
          ") ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version");
    rekeyAccounts(run, runParams, where);
    run("COMMIT");
  } catch (...) {
    Result r(PQexec(c, "ROLLBACK"), &PQclear);
    throw;
  }
}

}  // namespace parley::store
