// PostgresError: libpq's error reports as one line fit for a log or a StoreStatus (libpq's own
// messages span lines, with tabs). Never includes a password: libpq's messages do not carry the
// connection string, and callers name the server by its redacted URL.
#pragma once

#include <string>
#include <string_view>

struct pg_conn;
struct pg_result;

namespace parley::store {

// `s` on one line: its lines trimmed and joined by single spaces ("unknown error" when empty).
std::string oneLine(std::string_view s);

// Why `result` (or, without one, the connection) failed: the server's primary message and
// detail when it sent them, else libpq's message.
std::string postgresError(const pg_result* result, const pg_conn* conn);

}  // namespace parley::store
