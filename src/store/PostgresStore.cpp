#include "store/PostgresStore.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include "store/PostgresError.h"
#include "store/PostgresSchema.h"

namespace parley::store {

namespace {

// Rows per prune statement (each one its own transaction): row locks are held for milliseconds.
constexpr std::int64_t kPruneChunk = 1000;

struct StmtDef {
  const char* name;
  const char* sql;
};

// The batch travels as six text arrays, so one prepared statement serves every batch size and
// an append is one round trip. One statement is one transaction: all rows or none.
#define PARLEY_BATCH                                                                    \
  "unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], " \
  "$7::boolean[]) AS b (room, id, username, content, client_id, created_ms, signed_in)"

constexpr StmtDef kStmts[] = {
    {"parley_append",
     "WITH ins AS (INSERT INTO messages "
     "(room, id, username, content, client_id, created_ms, signed_in) "
     "SELECT room, id, username, content, client_id, created_ms, signed_in FROM " PARLEY_BATCH
     " RETURNING room, id, created_ms) "
     "INSERT INTO rooms (room, last_id, last_ms) "
     "SELECT room, max(id), max(created_ms) FROM ins GROUP BY room "
     "ON CONFLICT (room) DO UPDATE SET last_id = GREATEST(rooms.last_id, EXCLUDED.last_id), "
     "last_ms = GREATEST(rooms.last_ms, EXCLUDED.last_ms)"},
    {"parley_stored_count",
     "SELECT count(*) FROM " PARLEY_BATCH
     " JOIN messages m ON m.room = b.room AND m.id = b.id AND m.username = b.username "
     "AND m.content = b.content AND m.client_id IS NOT DISTINCT FROM b.client_id "
     "AND m.created_ms = b.created_ms AND m.signed_in = b.signed_in"},
    {"parley_last_id", "SELECT max(id) FROM messages WHERE room = $1"},
    {"parley_after",
     "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
     "FROM messages "
     "WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3"},
    {"parley_before",
     "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
     "FROM messages "
     "WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3"},
    {"parley_find_client_id",
     "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
     "FROM messages "
     "WHERE room = $1 AND username = $2 AND client_id = $3 AND created_ms >= $4 "
     "ORDER BY id DESC LIMIT 1"},
    {"parley_rooms",
     "SELECT room, last_id, last_ms FROM rooms ORDER BY last_ms DESC, room LIMIT $1"},
    {"parley_room_names", "SELECT room FROM rooms"},
    // A key range, so each chunk reads only the rows it deletes: up to the room's newest id
    // minus keep (recomputed here, and keep is at least 1, so the newest never qualifies), and
    // at most the chunk's worth of oldest ids (LEAST skips the NULL of a shorter room).
    {"parley_prune_keep_last",
     "DELETE FROM messages WHERE room = $1 AND id <= LEAST("
     "(SELECT max(id) FROM messages WHERE room = $1) - $2::bigint, "
     "(SELECT id FROM messages WHERE room = $1 ORDER BY id OFFSET $3::bigint - 1 LIMIT 1))"},
    // Walks the created_ms index upwards from $1 so rows it skipped (rooms' newest) are not
    // examined again by every chunk.
    {"parley_prune_older_than",
     "DELETE FROM messages WHERE (room, id) IN (SELECT room, id FROM messages AS m "
     "WHERE created_ms >= $1 AND created_ms < $2 "
     "AND id < (SELECT max(id) FROM messages WHERE room = m.room) "
     "ORDER BY created_ms LIMIT $3) RETURNING created_ms"},
    // A new row version and a WAL record: fails where an append would (a read-only database or
    // session, a full disk), unlike a SELECT.
    {"parley_probe_write", "UPDATE schema_version SET version = version"},
    // A new account takes rank 0 of its key: refused when the key is held (accounts of an
    // older rule that share a key hold higher ranks beside it: store/AccountRekey).
    {"parley_create_account",
     "INSERT INTO accounts (name_key, key_rank, username, password_hash, created_ms) "
     "VALUES ($1, 0, $2, $3, $4) ON CONFLICT (name_key, key_rank) DO NOTHING"},
    {"parley_find_accounts",
     "SELECT name_key, username, password_hash, created_ms FROM accounts WHERE name_key = $1 "
     "ORDER BY key_rank"},
    {"parley_account_keys",
     "SELECT name_key FROM accounts WHERE name_key > $1 AND key_rank = 0 ORDER BY name_key "
     "LIMIT $2"},
    {"parley_find_message",
     "SELECT username, signed_in, deleted FROM messages WHERE room = $1 AND id = $2 FOR UPDATE"},
    {"parley_edit_message",
     "UPDATE messages SET content = $3, edited_ms = $4 WHERE room = $1 AND id = $2"},
    {"parley_delete_message",
     "UPDATE messages SET content = '', deleted = TRUE WHERE room = $1 AND id = $2"},
};
#undef PARLEY_BATCH

// A key with a NUL byte can never have been stored, and as a C string parameter it would be cut
// short into another key: such lookups find nothing without asking the server.
bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

std::string clampedLimit(std::size_t n) {
  return std::to_string(n > static_cast<std::size_t>(kMaxStoredInteger)
                            ? kMaxStoredInteger
                            : static_cast<std::int64_t>(n));
}

bool succeeded(const PGresult* r) {
  const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

std::int64_t toInt64(const PGresult* r, int row, int col) {
  std::int64_t v = 0;
  const char* p = PQgetvalue(r, row, col);
  std::from_chars(p, p + PQgetlength(r, row, col), v);  // NULL reads as "" -> 0
  return v;
}

std::string toText(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

// An element of a text[] literal: quoted, so braces, commas, spaces and the word NULL stay text.
void appendElement(std::string& array, std::string_view s) {
  if (array.size() > 1) array += ',';
  array += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') array += '\\';
    array += c;
  }
  array += '"';
}

void appendNumber(std::string& array, std::int64_t v) {
  if (array.size() > 1) array += ',';
  array += std::to_string(v);
}

void appendNull(std::string& array) {
  if (array.size() > 1) array += ',';
  array += "NULL";
}

}  // namespace

void PostgresStore::Finish::operator()(pg_conn* conn) const { PQfinish(conn); }
void PostgresStore::Clear::operator()(pg_result* res) const { PQclear(res); }

std::string PostgresStore::redacted(std::string_view url) {
  std::string out(url);
  if (const auto scheme = out.find("://"); scheme != std::string::npos) {
    const auto hostStart = scheme + 3;
    const auto authorityEnd = std::min(out.find_first_of("/?#", hostStart), out.size());
    const auto at = out.rfind('@', authorityEnd);
    if (at != std::string::npos && at >= hostStart) {
      const auto colon = out.find(':', hostStart);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // libpq also takes the password as a query parameter.
  for (std::size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&') continue;
    const auto start = p + 9;
    const auto end = std::min(out.find('&', start), out.size());
    out.replace(start, end - start, "***");
  }
  return out;
}

PostgresStore::PostgresStore(const std::string& url) : where_(redacted(url)) {
  // Defaults come before the URI, so anything the URI says wins. connect_timeout bounds a
  // (re)connect to an unreachable host, statement_timeout a query stuck behind a lock (5 s, as
  // SQLite's busy timeout), and TCP keepalives a server that vanished without closing the
  // connection: no store call blocks its thread for long.
  const char* const keys[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval",
                              "keepalives_count", "options",         "application_name",
                              "client_encoding",  "dbname",          nullptr};
  const char* const values[] = {"5",      "30",   "10",        "3",    "-c statement_timeout=5s",
                                "parley", "UTF8", url.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_) throw std::runtime_error("postgres " + where_ + ": out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK)
    throw std::runtime_error("postgres: cannot connect to " + where_ + ": " +
                             oneLine(PQerrorMessage(conn_.get())));
  // Server notices ("relation already exists, skipping") are not errors; libpq would print
  // them on stderr.
  PQsetNoticeProcessor(
      conn_.get(), [](void*, const char*) {}, nullptr);
  migratePostgresSchema(conn_.get(), where_);
}

PostgresStore::~PostgresStore() = default;

bool PostgresStore::exec(Stmt which, std::span<const char* const> params, Result& res,
                         std::string& error) {
  PGconn* c = conn_.get();
  const int n = static_cast<int>(params.size());
  if (!prepared_[which]) {
    res.reset(PQprepare(c, kStmts[which].name, kStmts[which].sql, n, nullptr));
    if (!succeeded(res.get())) {
      error = postgresError(res.get(), c);
      return false;
    }
    prepared_[which] = true;
  }
  res.reset(PQexecPrepared(c, kStmts[which].name, n, params.data(), nullptr, nullptr, 0));
  if (succeeded(res.get())) return true;
  error = postgresError(res.get(), c);
  return false;
}

bool PostgresStore::execSql(const char* sql, std::span<const char* const> params, Result& res,
                            std::string& error) {
  res.reset(PQexecParams(conn_.get(), sql, static_cast<int>(params.size()), nullptr, params.data(),
                         nullptr, nullptr, 0));
  if (succeeded(res.get())) return true;
  error = postgresError(res.get(), conn_.get());
  return false;
}

bool PostgresStore::reconnect(std::string& error) {
  PQreset(conn_.get());
  prepared_.fill(false);  // a new session has none of them
  if (PQstatus(conn_.get()) == CONNECTION_OK) return true;
  error = oneLine(PQerrorMessage(conn_.get()));
  return false;
}

template <class Attempt>
StoreStatus PostgresStore::call(const char* what, Attempt&& attempt) {
  auto fail = [&](const std::string& why) {
    return StoreStatus::failure(std::string("postgres ") + what + ": " + why);
  };
  std::string error;
  bool reconnected = false;
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    if (!reconnect(error)) return fail("connection lost; reconnect failed: " + error);
    reconnected = true;
  } else if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
    Result r(PQexec(conn_.get(), "ROLLBACK"));  // never happens by design; cheap insurance
  }
  if (attempt(error)) return {};
  if (reconnected || PQstatus(conn_.get()) == CONNECTION_OK) return fail(error);
  const std::string lost = error;
  if (!reconnect(error)) return fail(lost + "; reconnect failed: " + error);
  error.clear();
  if (attempt(error)) return {};
  return fail(error);
}

StoreStatus PostgresStore::append(std::span<const StoredMessage> batch) {
  if (batch.empty()) return {};
  if (auto why = validateBatch(batch); !why.empty())
    return StoreStatus::failure("postgres append: " + why);
  std::string rooms = "{", ids = "{", users = "{", contents = "{", clientIds = "{", millis = "{";
  for (const auto& m : batch) {
    appendElement(rooms, m.room);
    appendNumber(ids, static_cast<std::int64_t>(m.id));
    appendElement(users, m.username);
    appendElement(contents, m.content);
    if (m.clientId.empty())
      appendNull(clientIds);
    else
      appendElement(clientIds, m.clientId);
    appendNumber(millis, m.unixMillis);
  }
  std::string signedIn = "{";
  for (const auto& m : batch)
    signedIn += signedIn.size() > 1 ? (m.signedIn ? ",t" : ",f") : (m.signedIn ? "t" : "f");
  for (auto* a : {&rooms, &ids, &users, &contents, &clientIds, &millis, &signedIn}) *a += '}';
  const char* const params[] = {rooms.c_str(),    ids.c_str(),       users.c_str(),
                                contents.c_str(), clientIds.c_str(), millis.c_str(),
                                signedIn.c_str()};
  return call("append", [&](std::string& error) {
    Result r;
    if (exec(kAppend, params, r, error)) return true;
    // Appending what is already stored, exactly, succeeds: after a connection lost during the
    // statement (here, or in an earlier call), the batch may have committed without our hearing
    // it, and the caller's retry must not be stuck on its own success.
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    if (!state || std::strcmp(state, "23505") != 0) return false;
    Result count;
    std::string ignored;
    return exec(kStoredCount, params, count, ignored) && PQntuples(count.get()) == 1 &&
           toInt64(count.get(), 0, 0) == static_cast<std::int64_t>(batch.size());
  });
}

StoreStatus PostgresStore::lastId(std::string_view room, std::uint64_t& out) {
  out = 0;
  if (hasNul(room)) return {};
  const std::string r(room);
  const char* const params[] = {r.c_str()};
  return call("lastId", [&](std::string& error) {
    Result res;
    if (!exec(kLastId, params, res, error)) return false;
    out = static_cast<std::uint64_t>(PQntuples(res.get()) ? toInt64(res.get(), 0, 0) : 0);
    return true;
  });
}

bool PostgresStore::readMessages(Stmt which, std::span<const char* const> params,
                                 std::string_view room, std::vector<StoredMessage>& out,
                                 std::string& error) {
  out.clear();
  Result res;
  if (!exec(which, params, res, error)) return false;
  const int rows = PQntuples(res.get());
  out.reserve(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    StoredMessage& m = out.emplace_back();
    m.id = static_cast<std::uint64_t>(toInt64(res.get(), i, 0));
    m.room = room;
    m.username = toText(res.get(), i, 1);
    m.content = toText(res.get(), i, 2);
    m.clientId = toText(res.get(), i, 3);  // NULL reads as ""
    m.unixMillis = toInt64(res.get(), i, 4);
    m.signedIn = PQgetvalue(res.get(), i, 5)[0] == 't';
    m.deleted = PQgetvalue(res.get(), i, 6)[0] == 't';
    m.editedMillis = toInt64(res.get(), i, 7);
  }
  return true;
}

StoreStatus PostgresStore::applyChanges(std::span<MessageChange> changes) {
  if (changes.empty()) return {};
  for (const auto& c : changes)
    if (hasNul(c.room) || hasNul(c.content) || c.id > static_cast<std::uint64_t>(kMaxStoredInteger))
      return StoreStatus::failure(
          "postgres change: text contains a NUL byte or the id is out of range");
  StoreStatus st = call("change", [&](std::string& error) {
    // One transaction: BEGIN, then per change a locked read of its row and the update the rule
    // allows, then COMMIT; on a failure, rolled back at once.
    const bool ok = applyInTransaction(changes, error);
    if (!ok && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE)
      Result rollback(PQexec(conn_.get(), "ROLLBACK"));
    return ok;
  });
  if (!st.ok)
    for (auto& c : changes) c.outcome = MessageChange::Outcome::NotFound;
  return st;
}

bool PostgresStore::applyInTransaction(std::span<MessageChange> changes, std::string& error) {
  {
    Result begin(PQexec(conn_.get(), "BEGIN"));
    if (!succeeded(begin.get())) {
      error = postgresError(begin.get(), conn_.get());
      return false;
    }
  }
  for (auto& c : changes) {
    const std::string id = std::to_string(c.id);
    const char* const key[] = {c.room.c_str(), id.c_str()};
    Result row;
    if (!exec(kFindMessage, key, row, error)) return false;
    StoredMessage found;
    const bool exists = PQntuples(row.get()) == 1;
    if (exists) {
      found.username = toText(row.get(), 0, 0);
      found.signedIn = PQgetvalue(row.get(), 0, 1)[0] == 't';
      found.deleted = PQgetvalue(row.get(), 0, 2)[0] == 't';
    }
    c.outcome = decideChange(c, exists ? &found : nullptr);
    if (c.outcome != MessageChange::Outcome::Applied) continue;
    Result done;
    if (c.kind == MessageChange::Kind::Edit) {
      const std::string ms = std::to_string(c.unixMillis);
      const char* const params[] = {c.room.c_str(), id.c_str(), c.content.c_str(), ms.c_str()};
      if (!exec(kEditMessage, params, done, error)) return false;
    } else if (!exec(kDeleteMessage, key, done, error)) {
      return false;
    }
  }
  Result commit(PQexec(conn_.get(), "COMMIT"));
  if (!succeeded(commit.get())) {
    error = postgresError(commit.get(), conn_.get());
    return false;
  }
  return true;
}

StoreStatus PostgresStore::after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                                 std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0 || afterId >= static_cast<std::uint64_t>(kMaxStoredInteger) || hasNul(room))
    return {};
  const std::string r(room), id = std::to_string(afterId), lim = clampedLimit(limit);
  const char* const params[] = {r.c_str(), id.c_str(), lim.c_str()};
  return call("after",
              [&](std::string& error) { return readMessages(kAfter, params, room, out, error); });
}

StoreStatus PostgresStore::before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                                  std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0 || hasNul(room)) return {};
  const std::string r(room),
      lim = clampedLimit(limit),
      id = std::to_string(beforeId == 0 || beforeId > static_cast<std::uint64_t>(kMaxStoredInteger)
                              ? static_cast<std::uint64_t>(kMaxStoredInteger)
                              : beforeId);
  const char* const params[] = {r.c_str(), id.c_str(), lim.c_str()};
  StoreStatus st = call("before", [&](std::string& error) {
    return readMessages(kBefore, params, room, out, error);
  });
  std::reverse(out.begin(), out.end());  // read newest first so LIMIT keeps the newest
  return st;
}

StoreStatus PostgresStore::findByClientId(std::string_view room, std::string_view username,
                                          std::string_view clientId, std::int64_t notBeforeMillis,
                                          std::optional<StoredMessage>& out) {
  out.reset();
  if (clientId.empty()) return {};  // stored as NULL: "no client id" never matches
  if (hasNul(room) || hasNul(username) || hasNul(clientId)) return {};
  const std::string r(room), u(username), c(clientId), t = std::to_string(notBeforeMillis);
  const char* const params[] = {r.c_str(), u.c_str(), c.c_str(), t.c_str()};
  std::vector<StoredMessage> found;
  StoreStatus st = call("findByClientId", [&](std::string& error) {
    return readMessages(kFindClientId, params, room, found, error);
  });
  if (st.ok && !found.empty()) out = std::move(found.front());
  return st;
}

StoreStatus PostgresStore::rooms(std::size_t limit, std::vector<RoomSummary>& out) {
  out.clear();
  if (limit == 0) return {};
  const std::string lim = clampedLimit(limit);
  const char* const params[] = {lim.c_str()};
  return call("rooms", [&](std::string& error) {
    out.clear();
    Result res;
    if (!exec(kRooms, params, res, error)) return false;
    const int rows = PQntuples(res.get());
    for (int i = 0; i < rows; ++i)
      out.push_back({toText(res.get(), i, 0), static_cast<std::uint64_t>(toInt64(res.get(), i, 1)),
                     toInt64(res.get(), i, 2)});
    return true;
  });
}

StoreStatus PostgresStore::pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) {
  const std::string keep = std::to_string(std::max<std::int64_t>(
                        1, keepPerRoom > static_cast<std::size_t>(kMaxStoredInteger)
                               ? kMaxStoredInteger
                               : static_cast<std::int64_t>(keepPerRoom))),
                    chunk = std::to_string(kPruneChunk);
  return call("pruneKeepLast", [&](std::string& error) {
    Result names;
    if (!exec(kRoomNames, {}, names, error)) return false;
    for (int i = 0; i < PQntuples(names.get()); ++i) {
      const char* const params[] = {PQgetvalue(names.get(), i, 0), keep.c_str(), chunk.c_str()};
      for (;;) {
        Result res;
        if (!exec(kPruneKeepLast, params, res, error)) return false;
        const std::int64_t n = std::atoll(PQcmdTuples(res.get()));
        deleted += static_cast<std::uint64_t>(n);
        if (n < kPruneChunk) break;
      }
    }
    return true;
  });
}

StoreStatus PostgresStore::pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) {
  const std::string cutoff = std::to_string(cutoffMillis), chunk = std::to_string(kPruneChunk);
  return call("pruneOlderThan", [&](std::string& error) {
    std::int64_t from = std::numeric_limits<std::int64_t>::min();
    for (;;) {
      const std::string f = std::to_string(from);
      const char* const params[] = {f.c_str(), cutoff.c_str(), chunk.c_str()};
      Result res;
      if (!exec(kPruneOlderThan, params, res, error)) return false;
      const int n = PQntuples(res.get());
      for (int i = 0; i < n; ++i) from = std::max(from, toInt64(res.get(), i, 0));
      deleted += static_cast<std::uint64_t>(n);
      if (n < kPruneChunk) return true;
    }
  });
}

StoreStatus PostgresStore::createAccount(const Account& account, bool& created) {
  created = false;
  for (std::string_view s : {std::string_view(account.key), std::string_view(account.username),
                             std::string_view(account.passwordHash)})
    if (hasNul(s)) return StoreStatus::failure("postgres createAccount: text contains a NUL byte");
  const std::string createdMs = std::to_string(account.createdMillis);
  const char* const params[] = {account.key.c_str(), account.username.c_str(),
                                account.passwordHash.c_str(), createdMs.c_str()};
  return call("createAccount", [&](std::string& error) {
    Result res;
    if (!exec(kCreateAccount, params, res, error)) return false;
    created = std::string_view(PQcmdTuples(res.get())) == "1";
    return true;
  });
}

StoreStatus PostgresStore::findAccounts(std::string_view key, std::vector<Account>& out) {
  out.clear();
  if (hasNul(key)) return {};
  const std::string k(key);
  const char* const params[] = {k.c_str()};
  return call("findAccounts", [&](std::string& error) {
    Result res;
    if (!exec(kFindAccounts, params, res, error)) return false;
    out.clear();
    const int rows = PQntuples(res.get());
    for (int i = 0; i < rows; ++i) {
      Account& a = out.emplace_back();
      a.key = toText(res.get(), i, 0);
      a.username = toText(res.get(), i, 1);
      a.passwordHash = toText(res.get(), i, 2);
      a.createdMillis = toInt64(res.get(), i, 3);
    }
    return true;
  });
}

StoreStatus PostgresStore::accountKeys(std::string_view afterKey, std::size_t limit,
                                       std::vector<std::string>& out) {
  out.clear();
  if (hasNul(afterKey)) return StoreStatus::failure("postgres accountKeys: key contains a NUL");
  const std::string after(afterKey);
  const std::string n = clampedLimit(limit);
  const char* const params[] = {after.c_str(), n.c_str()};
  return call("accountKeys", [&](std::string& error) {
    out.clear();
    Result res;
    if (!exec(kAccountKeys, params, res, error)) return false;
    const int rows = PQntuples(res.get());
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) out.push_back(toText(res.get(), i, 0));
    return true;
  });
}

StoreStatus PostgresStore::probeWrite() {
  return call("probeWrite", [&](std::string& error) {
    Result res;
    return exec(kProbeWrite, {}, res, error);
  });
}

// One statement each: PostgreSQL runs every data-modifying WITH part to completion, in the
// statement's one transaction.
StoreStatus PostgresStore::createRoom(const RegisteredRoom& room, bool& created) {
  created = false;
  std::string keys = "{", names = "{", roles = "{";
  if (hasNul(room.room)) return StoreStatus::failure("postgres createRoom: text contains a NUL");
  for (const RoomGrant& g : room.members) {
    if (hasNul(g.userKey) || hasNul(g.username))
      return StoreStatus::failure("postgres createRoom: text contains a NUL");
    appendElement(keys, g.userKey);
    appendElement(names, g.username);
    appendElement(roles, roomRoleName(g.role));
  }
  for (auto* a : {&keys, &names, &roles}) *a += '}';
  const std::string createdMs = std::to_string(room.createdMillis);
  const char* const params[] = {room.room.c_str(),
                                room.isPrivate ? "t" : "f",
                                room.direct ? "t" : "f",
                                createdMs.c_str(),
                                keys.c_str(),
                                names.c_str(),
                                roles.c_str()};
  return call("createRoom", [&](std::string& error) {
    Result res;
    if (!execSql("WITH r AS (INSERT INTO room_access (room, private, direct, created_ms) "
                 "VALUES ($1, $2, $3, $4) ON CONFLICT (room) DO NOTHING RETURNING room), "
                 "m AS (INSERT INTO room_members (room, user_key, username, role) "
                 "SELECT r.room, g.k, g.n, g.r FROM r, "
                 "unnest($5::text[], $6::text[], $7::text[]) AS g (k, n, r)) "
                 "SELECT count(*) FROM r",
                 params, res, error))
      return false;
    created = toInt64(res.get(), 0, 0) == 1;
    return true;
  });
}

StoreStatus PostgresStore::putMember(std::string_view room, const RoomGrant& grant) {
  if (hasNul(room) || hasNul(grant.userKey) || hasNul(grant.username))
    return StoreStatus::failure("postgres putMember: text contains a NUL");
  const std::string r(room);
  const std::string role(roomRoleName(grant.role));
  const char* const params[] = {r.c_str(), grant.userKey.c_str(), grant.username.c_str(),
                                role.c_str()};
  return call("putMember", [&](std::string& error) {
    Result res;
    return execSql(
        "INSERT INTO room_members (room, user_key, username, role) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (room, user_key) DO UPDATE SET "
        "username = EXCLUDED.username, role = EXCLUDED.role",
        params, res, error);
  });
}

StoreStatus PostgresStore::removeMember(std::string_view room, std::string_view userKey) {
  if (hasNul(room) || hasNul(userKey)) return {};
  const std::string r(room), k(userKey);
  const char* const params[] = {r.c_str(), k.c_str()};
  return call("removeMember", [&](std::string& error) {
    Result res;
    return execSql("DELETE FROM room_members WHERE room = $1 AND user_key = $2", params, res,
                   error);
  });
}

StoreStatus PostgresStore::putBan(std::string_view room, const RoomBan& ban) {
  if (hasNul(room) || hasNul(ban.userKey) || hasNul(ban.username))
    return StoreStatus::failure("postgres putBan: text contains a NUL");
  const std::string r(room);
  const std::string createdMs = std::to_string(ban.createdMillis);
  const char* const params[] = {r.c_str(), ban.userKey.c_str(), ban.username.c_str(),
                                createdMs.c_str()};
  return call("putBan", [&](std::string& error) {
    Result res;
    return execSql(
        "WITH d AS (DELETE FROM room_members WHERE room = $1 AND user_key = $2) "
        "INSERT INTO room_bans (room, user_key, username, created_ms) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (room, user_key) DO UPDATE SET "
        "username = EXCLUDED.username",
        params, res, error);
  });
}

StoreStatus PostgresStore::removeBan(std::string_view room, std::string_view userKey) {
  if (hasNul(room) || hasNul(userKey)) return {};
  const std::string r(room), k(userKey);
  const char* const params[] = {r.c_str(), k.c_str()};
  return call("removeBan", [&](std::string& error) {
    Result res;
    return execSql("DELETE FROM room_bans WHERE room = $1 AND user_key = $2", params, res, error);
  });
}

StoreStatus PostgresStore::loadRooms(std::vector<RegisteredRoom>& out) {
  out.clear();
  return call("loadRooms", [&](std::string& error) {
    out.clear();
    // The three tables as of one moment: one statement reads them all.
    Result res;
    if (!execSql("SELECT 0, room, private::int, direct::int, created_ms, NULL, NULL "
                 "FROM room_access "
                 "UNION ALL SELECT 1, room, 0, 0, 0, user_key, username || chr(10) || role "
                 "FROM room_members "
                 "UNION ALL SELECT 2, room, 0, 0, created_ms, user_key, username FROM room_bans "
                 "ORDER BY 1, 2, 6",
                 std::span<const char* const>{}, res, error))
      return false;
    std::map<std::string, std::size_t, std::less<>> index;
    const int rows = PQntuples(res.get());
    for (int i = 0; i < rows; ++i) {
      const std::int64_t kind = toInt64(res.get(), i, 0);
      std::string room = toText(res.get(), i, 1);
      if (kind == 0) {
        RegisteredRoom& r = out.emplace_back();
        r.room = room;
        r.isPrivate = toInt64(res.get(), i, 2) != 0;
        r.direct = toInt64(res.get(), i, 3) != 0;
        r.createdMillis = toInt64(res.get(), i, 4);
        index.emplace(std::move(room), out.size() - 1);
        continue;
      }
      auto it = index.find(room);
      if (it == index.end()) continue;
      if (kind == 1) {
        const std::string both = toText(res.get(), i, 6);
        const auto cut = both.rfind('\n');
        out[it->second].members.push_back(
            {toText(res.get(), i, 5), both.substr(0, cut),
             parseRoomRole(both.substr(cut + 1)).value_or(RoomRole::Member)});
      } else {
        out[it->second].bans.push_back(
            {toText(res.get(), i, 5), toText(res.get(), i, 6), toInt64(res.get(), i, 4)});
      }
    }
    return true;
  });
}

}  // namespace parley::store
