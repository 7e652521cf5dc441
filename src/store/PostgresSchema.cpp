#include "store/PostgresSchema.h"

#include <libpq-fe.h>

#include <charconv>
#include <iterator>
#include <memory>
#include <stdexcept>

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
};
static_assert(std::size(kMigrations) > 0 &&
              kMigrations[std::size(kMigrations) - 1].version == kPostgresSchemaVersion);

using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

}  // namespace

void migratePostgresSchema(PGconn* c, const std::string& where) {
  auto run = [&](const std::string& sql) {
    Result r(PQexec(c, sql.c_str()), &PQclear);
    const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw std::runtime_error("postgres " + where +
                               ": schema migration failed: " + postgresError(r.get(), c));
    return r;
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
    run("COMMIT");
  } catch (...) {
    Result r(PQexec(c, "ROLLBACK"), &PQclear);
    throw;
  }
}

}  // namespace parley::store
