// PostgresSchema: the PostgreSQL database's tables and their history, as numbered migrations that
// the first server to connect applies (others wait on an advisory lock). Never edits a released
// step: a change is a new step.
#pragma once

#include <string>

struct pg_conn;

namespace parley::store {

// The newest schema this binary creates and understands (the last migration's number).
inline constexpr int kPostgresSchemaVersion = 5;

// Brings the database behind `conn` to kPostgresSchemaVersion in one transaction, serialized with
// other servers by an advisory lock, with every account key made by this binary's rule
// (store/AccountRekey). `where` (the redacted URL) names it in errors. Throws
// std::runtime_error when a step fails or the schema is newer than this binary's.
void migratePostgresSchema(pg_conn* conn, const std::string& where);

}  // namespace parley::store
