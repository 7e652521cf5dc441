#include "store/SqliteStore.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>

#include "store/SqliteSchema.h"
#include "store/WalBatchingVfs.h"

namespace parley::store {

namespace {

constexpr int kBusyTimeoutMs = 5000;
// Rows per prune transaction: a few milliseconds of holding the write lock at most.
constexpr std::int64_t kPruneChunk = 1000;

constexpr const char* kSql[] = {
    /* kBegin */ "BEGIN IMMEDIATE",  // take the write lock up front: no deadlock on upgrade
    /* kCommit */ "COMMIT",
    /* kRollback */ "ROLLBACK",
    /* kInsert */
    "INSERT INTO messages (room, id, username, content, client_id, created_ms, signed_in) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* kTouchRoom */
    "INSERT INTO rooms (room, last_id, last_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (room) DO UPDATE SET last_id = max(last_id, excluded.last_id), "
    "last_ms = max(last_ms, excluded.last_ms)",
    /* kHasExactly */
    "SELECT 1 FROM messages WHERE room = ?1 AND id = ?2 AND username = ?3 AND content = ?4 "
    "AND client_id IS ?5 AND created_ms = ?6 AND signed_in = ?7",
    /* kLastId */ "SELECT max(id) FROM messages WHERE room = ?1",
    /* kAfter */
    "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
    "FROM messages "
    "WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    /* kBefore */
    "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
    "FROM messages "
    "WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    /* kFindClientId */
    "SELECT id, username, content, client_id, created_ms, signed_in, deleted, edited_ms "
    "FROM messages "
    "WHERE room = ?1 AND username = ?2 AND client_id = ?3 AND created_ms >= ?4 "
    "ORDER BY id DESC LIMIT 1",
    /* kRooms */ "SELECT room, last_id, last_ms FROM rooms ORDER BY last_ms DESC, room LIMIT ?1",
    /* kRoomNames */ "SELECT room FROM rooms",
    // A key range, so each chunk reads only the rows it deletes: up to the room's newest id
    // minus keep (recomputed here, and keep is at least 1, so the newest never qualifies), and
    // at most the chunk's worth of oldest ids (when the room is shorter, the first bound).
    /* kPruneKeepLast */
    "DELETE FROM messages WHERE room = ?1 AND id <= (SELECT min(bound, coalesce("
    "(SELECT id FROM messages WHERE room = ?1 ORDER BY id LIMIT 1 OFFSET ?3 - 1), bound)) "
    "FROM (SELECT (SELECT max(id) FROM messages WHERE room = ?1) - ?2 AS bound))",
    // Walks the created_ms index upwards from ?1 so rows it skipped (rooms' newest) are not
    // examined again by every chunk.
    /* kPruneOlderThan */
    "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages AS m "
    "WHERE created_ms >= ?1 AND created_ms < ?2 "
    "AND id < (SELECT max(id) FROM messages WHERE room = m.room) "
    "ORDER BY created_ms LIMIT ?3) RETURNING created_ms",
    // Writes the row (SQLite rewrites a row it is told to update, changed or not): a WAL frame
    // at commit, so a file that cannot be written fails here as an append would.
    /* kProbeWrite */ "UPDATE schema_version SET version = version",
    // A new account takes rank 0 of its key: refused when the key is held (accounts of an
    // older rule that share a key hold higher ranks beside it: store/AccountRekey).
    /* kCreateAccount */
    "INSERT INTO accounts (name_key, key_rank, username, password_hash, created_ms) "
    "VALUES (?1, 0, ?2, ?3, ?4) ON CONFLICT (name_key, key_rank) DO NOTHING",
    /* kFindAccounts */
    "SELECT name_key, username, password_hash, created_ms FROM accounts WHERE name_key = ?1 "
    "ORDER BY key_rank",
    /* kAccountKeys */
    "SELECT name_key FROM accounts WHERE name_key > ?1 AND key_rank = 0 ORDER BY name_key "
    "LIMIT ?2",
    /* kFindMessage */
    "SELECT username, signed_in, deleted FROM messages WHERE room = ?1 AND id = ?2",
    /* kEditMessage */
    "UPDATE messages SET content = ?3, edited_ms = ?4 WHERE room = ?1 AND id = ?2",
    /* kDeleteMessage */
    "UPDATE messages SET content = '', deleted = 1 WHERE room = ?1 AND id = ?2",
};
static_assert(std::size(kSql) == 21);

std::int64_t clampLimit(std::size_t n) {
  return n > static_cast<std::size_t>(kMaxStoredInteger) ? kMaxStoredInteger
                                                         : static_cast<std::int64_t>(n);
}

// Binds are SQLITE_STATIC: every bound value outlives the step that reads it.
void bindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text64(s, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void bindMessage(sqlite3_stmt* s, const StoredMessage& m) {
  bindText(s, 1, m.room);
  sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(m.id));
  bindText(s, 3, m.username);
  bindText(s, 4, m.content);
  if (m.clientId.empty())
    sqlite3_bind_null(s, 5);
  else
    bindText(s, 5, m.clientId);
  sqlite3_bind_int64(s, 6, m.unixMillis);
  sqlite3_bind_int(s, 7, m.signedIn ? 1 : 0);
}

std::string columnText(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

// Leaves a cached statement ready for its next use, whatever path the caller leaves by.
class Reset {
 public:
  explicit Reset(sqlite3_stmt* s) : s_(s) {}
  ~Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* s_;
};

}  // namespace

void SqliteStore::CloseDb::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteStore::Finalize::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

SqliteStore::SqliteStore(const std::string& path, bool syncEachCommit) : path_(path) {
  if (path.empty()) throw std::runtime_error("sqlite: empty database path");
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && path != ":memory:") {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error("sqlite: cannot create directory " + parent.string() + ": " +
                               ec.message());
  }
  sqlite3* raw = nullptr;
  // NOMUTEX: the object is used by one thread at a time (its statement cache needs that anyway).
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      walBatchingVfs());
  db_.reset(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error("sqlite: cannot open " + path + ": " +
                             (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  configure();
  if (syncEachCommit) execOrThrow("PRAGMA synchronous=FULL", "cannot set synchronous=FULL");
  migrateSqliteSchema(db_.get(), path_);
  prepareAll();
  roomTables_ = SqliteRoomTables(db_.get());
  if (path != ":memory:") file_ = FileIdentity::ofPath(path);
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::execOrThrow(const char* sql, const char* what) {
  char* msg = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string why = msg ? msg : sqlite3_errmsg(db_.get());
    sqlite3_free(msg);
    throw std::runtime_error("sqlite " + path_ + ": " + what + ": " + why);
  }
}

void SqliteStore::configure() {
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  // WAL: readers never block the writer and a commit is one append to the log.
  // synchronous=NORMAL: a commit does not fsync; the WAL is synced at checkpoints. A committed
  // transaction is in the OS page cache when COMMIT returns, so it survives kill -9 of parley;
  // an OS crash or power cut may lose the last commits but never corrupts the database.
  std::string mode;
  {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr) != SQLITE_OK)
      throw std::runtime_error("sqlite " + path_ + ": " + sqlite3_errmsg(db_.get()));
    std::unique_ptr<sqlite3_stmt, Finalize> s(raw);
    // Servers opening a fresh file together: switching to WAL takes an exclusive lock, and
    // SQLite answers BUSY at once (no busy handler) when another connection holds its own lock
    // while converting. Start-up only, bounded by the busy timeout.
    int rc = sqlite3_step(raw);
    for (int waited = 0; (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waited < kBusyTimeoutMs;
         waited += 10) {
      sqlite3_reset(raw);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      rc = sqlite3_step(raw);
    }
    if (rc != SQLITE_ROW)
      throw std::runtime_error("sqlite " + path_ +
                               ": cannot enable WAL: " + sqlite3_errmsg(db_.get()));
    mode = columnText(raw, 0);
  }
  if (mode != "wal" && path_ != ":memory:")
    throw std::runtime_error("sqlite " + path_ + ": cannot enable WAL (journal mode is " + mode +
                             ")");
  execOrThrow("PRAGMA synchronous=NORMAL", "cannot set synchronous=NORMAL");
  // A checkpoint run by a committing connection stalls that commit for its fdatasync calls
  // (10-20 ms here). A StoreMaintainer checkpoints every second when the CPU is free
  // (maintain()); the automatic one stays as the bound for a WAL that a saturated core left
  // unchecked: ~200 MB.
  execOrThrow("PRAGMA wal_autocheckpoint=50000", "cannot set wal_autocheckpoint");
  // 8 MiB per connection: the (room, id) index leaves of ~2,000 busy rooms, and misses are
  // served from the OS page cache. Bigger measured slower, not faster: when a B-tree split
  // renumbers pages, SQLite's page cache walks its whole hash table at commit, which grows
  // with the pages cached (storebench, 30 per commit: 64 MiB 10.9, 16 MiB 9.1, 8 MiB 8.6 us
  // per message over 1,000 rooms; 12.5 / 10.4 / 10.0 over 10,000).
  execOrThrow("PRAGMA cache_size=-8192", "cannot set cache_size");
}

void SqliteStore::prepareAll() {
  for (std::size_t i = 0; i < kStmtCount; ++i) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.get(), kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
        SQLITE_OK)
      throw std::runtime_error("sqlite " + path_ + ": cannot prepare \"" + kSql[i] +
                               "\": " + sqlite3_errmsg(db_.get()));
    stmts_[i].reset(raw);
  }
}

std::string SqliteStore::lost() const {
  std::string why = file_.check();
  if (!why.empty()) why += " under the running server: writes are refused until it restarts";
  return why;
}

StoreStatus SqliteStore::failure(const char* what) const {
  return StoreStatus::failure(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_.get()));
}

bool SqliteStore::run(Stmt which, std::string& error) {
  sqlite3_stmt* s = stmt(which);
  Reset reset(s);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc == SQLITE_DONE) return true;
  lastErrorCode_ = sqlite3_extended_errcode(db_.get());
  error = sqlite3_errmsg(db_.get());
  return false;
}

bool SqliteStore::insertAll(std::span<const StoredMessage> batch, std::string& error) {
  // Each room's newest id and time in this batch: one rooms upsert per room, not per message.
  std::map<std::string_view, std::pair<std::int64_t, std::int64_t>> touched;
  for (const auto& m : batch) {
    bindMessage(stmt(kInsert), m);
    if (!run(kInsert, error)) return false;
    auto [it, fresh] = touched.try_emplace(m.room, static_cast<std::int64_t>(m.id), m.unixMillis);
    if (!fresh) {
      it->second.first = std::max(it->second.first, static_cast<std::int64_t>(m.id));
      it->second.second = std::max(it->second.second, m.unixMillis);
    }
  }
  for (const auto& [room, last] : touched) {
    bindText(stmt(kTouchRoom), 1, room);
    sqlite3_bind_int64(stmt(kTouchRoom), 2, last.first);
    sqlite3_bind_int64(stmt(kTouchRoom), 3, last.second);
    if (!run(kTouchRoom, error)) return false;
  }
  return true;
}

bool SqliteStore::storedExactly(std::span<const StoredMessage> batch) {
  sqlite3_stmt* s = stmt(kHasExactly);
  for (const auto& m : batch) {
    Reset reset(s);
    bindMessage(s, m);
    if (sqlite3_step(s) != SQLITE_ROW) return false;
  }
  return true;
}

bool SqliteStore::holds(const StoredMessage& m) { return storedExactly({&m, 1}); }

StoreStatus SqliteStore::append(std::span<const StoredMessage> batch) {
  if (batch.empty()) return {};
  if (auto why = validateBatch(batch); !why.empty())
    return StoreStatus::failure("sqlite append: " + why);
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite append: " + why);
  std::string error;
  if (!run(kBegin, error)) return StoreStatus::failure("sqlite append: " + error);
  if (insertAll(batch, error) && run(kCommit, error)) return {};
  const int code = lastErrorCode_;  // before ROLLBACK replaces it
  std::string ignored;
  run(kRollback, ignored);
  // Appending what is already stored, exactly, succeeds: a caller retrying a batch whose
  // outcome it did not learn must not be stuck on its own earlier success.
  if (code == SQLITE_CONSTRAINT_UNIQUE && storedExactly(batch)) return {};
  return StoreStatus::failure("sqlite append: " + error);
}

StoreStatus SqliteStore::lastId(std::string_view room, std::uint64_t& out) {
  out = 0;
  sqlite3_stmt* s = stmt(kLastId);
  Reset reset(s);
  bindText(s, 1, room);
  if (sqlite3_step(s) != SQLITE_ROW) return failure("lastId");
  out = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));  // NULL (no rows) reads as 0
  return {};
}

StoreStatus SqliteStore::readMessages(Stmt which, std::string_view room,
                                      std::vector<StoredMessage>& out) {
  sqlite3_stmt* s = stmt(which);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    StoredMessage& m = out.emplace_back();
    m.id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    m.room = room;
    m.username = columnText(s, 1);
    m.content = columnText(s, 2);
    m.clientId = columnText(s, 3);
    m.unixMillis = sqlite3_column_int64(s, 4);
    m.signedIn = sqlite3_column_int(s, 5) != 0;
    m.deleted = sqlite3_column_int(s, 6) != 0;
    m.editedMillis = sqlite3_column_int64(s, 7);
  }
  if (rc == SQLITE_DONE) return {};
  out.clear();
  return failure("read");
}

StoreStatus SqliteStore::after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                               std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0 || afterId >= static_cast<std::uint64_t>(kMaxStoredInteger)) return {};
  sqlite3_stmt* s = stmt(kAfter);
  Reset reset(s);
  bindText(s, 1, room);
  sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(afterId));
  sqlite3_bind_int64(s, 3, clampLimit(limit));
  return readMessages(kAfter, room, out);
}

StoreStatus SqliteStore::before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                                std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0) return {};
  const std::int64_t bound =
      beforeId == 0 || beforeId > static_cast<std::uint64_t>(kMaxStoredInteger)
          ? kMaxStoredInteger
          : static_cast<std::int64_t>(beforeId);
  sqlite3_stmt* s = stmt(kBefore);
  Reset reset(s);
  bindText(s, 1, room);
  sqlite3_bind_int64(s, 2, bound);
  sqlite3_bind_int64(s, 3, clampLimit(limit));
  StoreStatus st = readMessages(kBefore, room, out);
  std::reverse(out.begin(), out.end());  // read newest first so LIMIT keeps the newest
  return st;
}

StoreStatus SqliteStore::findByClientId(std::string_view room, std::string_view username,
                                        std::string_view clientId, std::int64_t notBeforeMillis,
                                        std::optional<StoredMessage>& out) {
  out.reset();
  if (clientId.empty()) return {};  // stored as NULL: "no client id" never matches
  sqlite3_stmt* s = stmt(kFindClientId);
  Reset reset(s);
  bindText(s, 1, room);
  bindText(s, 2, username);
  bindText(s, 3, clientId);
  sqlite3_bind_int64(s, 4, notBeforeMillis);
  std::vector<StoredMessage> found;
  StoreStatus st = readMessages(kFindClientId, room, found);
  if (st.ok && !found.empty()) out = std::move(found.front());
  return st;
}

StoreStatus SqliteStore::rooms(std::size_t limit, std::vector<RoomSummary>& out) {
  out.clear();
  if (limit == 0) return {};
  sqlite3_stmt* s = stmt(kRooms);
  Reset reset(s);
  sqlite3_bind_int64(s, 1, clampLimit(limit));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    RoomSummary& r = out.emplace_back();
    r.room = columnText(s, 0);
    r.lastId = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    r.lastMillis = sqlite3_column_int64(s, 2);
  }
  if (rc == SQLITE_DONE) return {};
  out.clear();
  return failure("rooms");
}

StoreStatus SqliteStore::pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite pruneKeepLast: " + why);
  std::vector<std::string> names;
  {
    sqlite3_stmt* s = stmt(kRoomNames);
    Reset reset(s);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) names.push_back(columnText(s, 0));
    if (rc != SQLITE_DONE) return failure("pruneKeepLast");
  }
  const std::int64_t keep = std::max<std::int64_t>(1, clampLimit(keepPerRoom));
  sqlite3_stmt* s = stmt(kPruneKeepLast);
  for (const auto& room : names) {
    // Each chunk is its own (autocommit) transaction: the write lock is released in between.
    for (;;) {
      Reset reset(s);
      bindText(s, 1, room);
      sqlite3_bind_int64(s, 2, keep);
      sqlite3_bind_int64(s, 3, kPruneChunk);
      if (sqlite3_step(s) != SQLITE_DONE) return failure("pruneKeepLast");
      const std::int64_t n = sqlite3_changes64(db_.get());
      deleted += static_cast<std::uint64_t>(n);
      if (n < kPruneChunk) break;
    }
  }
  return {};
}

StoreStatus SqliteStore::pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite pruneOlderThan: " + why);
  sqlite3_stmt* s = stmt(kPruneOlderThan);
  std::int64_t from = std::numeric_limits<std::int64_t>::min();
  for (;;) {
    Reset reset(s);
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, cutoffMillis);
    sqlite3_bind_int64(s, 3, kPruneChunk);
    std::int64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      from = std::max<std::int64_t>(from, sqlite3_column_int64(s, 0));
      ++n;
    }
    if (rc != SQLITE_DONE) return failure("pruneOlderThan");
    deleted += static_cast<std::uint64_t>(n);
    if (n < kPruneChunk) return {};
  }
}

bool SqliteStore::applyOne(MessageChange& c, std::string& error) {
  std::optional<StoredMessage> row;
  {
    sqlite3_stmt* s = stmt(kFindMessage);
    Reset reset(s);
    bindText(s, 1, c.room);
    sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(c.id));
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      row.emplace();
      row->username = columnText(s, 0);
      row->signedIn = sqlite3_column_int(s, 1) != 0;
      row->deleted = sqlite3_column_int(s, 2) != 0;
    } else if (rc != SQLITE_DONE) {
      error = sqlite3_errmsg(db_.get());
      return false;
    }
  }
  c.outcome = decideChange(c, row ? &*row : nullptr);
  if (c.outcome != MessageChange::Outcome::Applied) return true;
  const bool edit = c.kind == MessageChange::Kind::Edit;
  sqlite3_stmt* s = stmt(edit ? kEditMessage : kDeleteMessage);
  bindText(s, 1, c.room);
  sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(c.id));
  if (edit) {
    bindText(s, 3, c.content);
    sqlite3_bind_int64(s, 4, c.unixMillis);
  }
  return run(edit ? kEditMessage : kDeleteMessage, error);
}

StoreStatus SqliteStore::applyChanges(std::span<MessageChange> changes) {
  if (changes.empty()) return {};
  for (const auto& c : changes)
    if (c.content.find('\0') != std::string::npos ||
        c.id > static_cast<std::uint64_t>(kMaxStoredInteger))
      return StoreStatus::failure(
          "sqlite change: text contains a NUL byte or the id is out of range");
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite change: " + why);
  std::string error;
  if (!run(kBegin, error)) return StoreStatus::failure("sqlite change: " + error);
  bool ok = true;
  for (auto& c : changes)
    if (!(ok = applyOne(c, error))) break;
  if (ok && run(kCommit, error)) return {};
  std::string ignored;
  run(kRollback, ignored);
  for (auto& c : changes) c.outcome = MessageChange::Outcome::NotFound;
  return StoreStatus::failure("sqlite change: " + error);
}

void SqliteStore::maintain() {
  // PASSIVE: copies what it can without waiting for (or blocking) the writer.
  sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

StoreStatus SqliteStore::createAccount(const Account& account, bool& created) {
  created = false;
  for (std::string_view s : {std::string_view(account.key), std::string_view(account.username),
                             std::string_view(account.passwordHash)})
    if (s.find('\0') != std::string_view::npos)
      return StoreStatus::failure("sqlite createAccount: text contains a NUL byte");
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite createAccount: " + why);
  sqlite3_stmt* s = stmt(kCreateAccount);
  bindText(s, 1, account.key);
  bindText(s, 2, account.username);
  bindText(s, 3, account.passwordHash);
  sqlite3_bind_int64(s, 4, account.createdMillis);
  std::string error;
  if (!run(kCreateAccount, error)) return StoreStatus::failure("sqlite createAccount: " + error);
  created = sqlite3_changes(db_.get()) == 1;
  return {};
}

StoreStatus SqliteStore::findAccounts(std::string_view key, std::vector<Account>& out) {
  out.clear();
  sqlite3_stmt* s = stmt(kFindAccounts);
  Reset reset(s);
  bindText(s, 1, key);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    Account& a = out.emplace_back();
    a.key = columnText(s, 0);
    a.username = columnText(s, 1);
    a.passwordHash = columnText(s, 2);
    a.createdMillis = sqlite3_column_int64(s, 3);
  }
  if (rc != SQLITE_DONE) {
    out.clear();
    return failure("findAccounts");
  }
  return {};
}

StoreStatus SqliteStore::accountKeys(std::string_view afterKey, std::size_t limit,
                                     std::vector<std::string>& out) {
  out.clear();
  sqlite3_stmt* s = stmt(kAccountKeys);
  Reset reset(s);
  bindText(s, 1, afterKey);
  sqlite3_bind_int64(s, 2, clampLimit(limit));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(columnText(s, 0));
  if (rc != SQLITE_DONE) {
    out.clear();
    return failure("accountKeys");
  }
  return {};
}

StoreStatus SqliteStore::createRoom(const RegisteredRoom& room, bool& created) {
  created = false;
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite createRoom: " + why);
  return roomTables_.createRoom(room, created);
}

StoreStatus SqliteStore::putMember(std::string_view room, const RoomGrant& grant) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite putMember: " + why);
  return roomTables_.putMember(room, grant);
}

StoreStatus SqliteStore::removeMember(std::string_view room, std::string_view userKey) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite removeMember: " + why);
  return roomTables_.removeMember(room, userKey);
}

StoreStatus SqliteStore::putBan(std::string_view room, const RoomBan& ban) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite putBan: " + why);
  return roomTables_.putBan(room, ban);
}

StoreStatus SqliteStore::removeBan(std::string_view room, std::string_view userKey) {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite removeBan: " + why);
  return roomTables_.removeBan(room, userKey);
}

StoreStatus SqliteStore::loadRooms(std::vector<RegisteredRoom>& out) {
  return roomTables_.loadRooms(out);
}

StoreStatus SqliteStore::probeWrite() {
  if (auto why = lost(); !why.empty()) return StoreStatus::failure("sqlite probeWrite: " + why);
  std::string error;
  if (!run(kProbeWrite, error)) return StoreStatus::failure("sqlite probeWrite: " + error);
  return {};
}

StoreStatus SqliteStore::copyTo(const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), "VACUUM INTO ?1", -1, &raw, nullptr) != SQLITE_OK)
    return failure("copyTo");
  std::unique_ptr<sqlite3_stmt, Finalize> s(raw);
  bindText(raw, 1, path);
  if (sqlite3_step(raw) != SQLITE_DONE) return failure("copyTo");
  return {};
}

}  // namespace parley::store
