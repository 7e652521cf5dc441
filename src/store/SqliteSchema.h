// SqliteSchema: the SQLite database's tables and their history, as numbered migrations applied
// when a connection opens the file. Never edits a released step: a change is a new step.
#pragma once

#include <string>

struct sqlite3;

namespace parley::store {

// The newest schema this binary creates and understands (the last migration's number).
inline constexpr int kSqliteSchemaVersion = 6;

// Brings the database open on `db` (at `path`, for messages) to kSqliteSchemaVersion in one
// transaction, with every account key made by this binary's rule (store/AccountRekey). Throws
// std::runtime_error when a step fails or the file's schema is newer than this binary's.
void migrateSqliteSchema(sqlite3* db, const std::string& path);

}  // namespace parley::store
