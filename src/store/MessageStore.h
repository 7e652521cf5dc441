// MessageStore: durable chat history behind one interface (SQLite embedded, PostgreSQL server).
// Blocking calls made only from the store's own threads: never from an event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parley::store {

struct StoredMessage {
  std::uint64_t id = 0;  // per room, from 1, no gaps in what is stored
  std::string room;
  std::string username;
  std::string content;
  std::string clientId;  // empty when the client gave none
  std::int64_t unixMillis = 0;
  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

// For maps keyed by room name that are searched with a std::string_view (no string built per
// lookup on the write path): std::unordered_map<std::string, V, StringHash, std::equal_to<>>.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A registered name (auth/). `key` is the name with ASCII letters lowered: names differing
// only in ASCII case are one account, so "Alice" cannot be registered beside "alice".
struct Account {
  std::string key;
  std::string username;      // as registered
  std::string passwordHash;  // the hasher's self-describing string (argon2id)
  std::int64_t createdMillis = 0;
};

// The account key of a name: ASCII letters lowered, every other byte kept.
std::string accountKey(std::string_view username);

struct RoomSummary {
  std::string room;
  std::uint64_t lastId = 0;
  std::int64_t lastMillis = 0;
};

// Outcome of a store call: ok, or a one-line reason (the database's own words where it gave
// some). Store calls never throw after open(); a failed call changes nothing.
struct StoreStatus {
  bool ok = true;
  std::string error;
  static StoreStatus failure(std::string why) { return {false, std::move(why)}; }
};

// Messages a store has made durable but not yet moved where readers and other servers look
// (SQLite: its inbox log), and why the last move failed ("" when it did not).
struct StoreBacklog {
  std::size_t waiting = 0;
  std::string error;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Short name for logs and /healthz: "sqlite" or "postgres".
  virtual std::string_view kind() const = 0;

  // Appends `batch` in ONE transaction: all of it or none. Ids are given by the caller and must
  // continue each room's sequence (the store enforces uniqueness of (room, id)).
  virtual StoreStatus append(std::span<const StoredMessage> batch) = 0;

  // Highest stored id of `room`, 0 if none.
  virtual StoreStatus lastId(std::string_view room, std::uint64_t& out) = 0;

  // Messages of `room` with id > afterId, ascending, at most `limit`.
  virtual StoreStatus after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                            std::vector<StoredMessage>& out) = 0;

  // The newest `limit` messages of `room` with id < beforeId (beforeId 0: no bound), returned
  // oldest first.
  virtual StoreStatus before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                             std::vector<StoredMessage>& out) = 0;

  // The message `username` sent to `room` with `clientId` at or after `notBeforeMillis`, if any
  // (idempotent retries).
  virtual StoreStatus findByClientId(std::string_view room, std::string_view username,
                                     std::string_view clientId, std::int64_t notBeforeMillis,
                                     std::optional<StoredMessage>& out) = 0;

  // Rooms that have messages, by most recent activity first, at most `limit`.
  virtual StoreStatus rooms(std::size_t limit, std::vector<RoomSummary>& out) = 0;

  // Retention. Each deletes in small transactions so writers are never stalled for long, and
  // adds the number of rows deleted to `deleted`. Never deletes a room's newest message (its id is
  // what makes ids continue after a restart).
  virtual StoreStatus pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) = 0;
  virtual StoreStatus pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) = 0;

  // Accounts. createAccount() inserts `account` unless its key is taken (`created` false then,
  // and nothing changes); findAccount() looks one up by key (nullopt: no such account).
  virtual StoreStatus createAccount(const Account& account, bool& created) = 0;
  virtual StoreStatus findAccount(std::string_view key, std::optional<Account>& out) = 0;
  // Account keys greater than `afterKey`, ascending, at most `limit` (pages through them all).
  virtual StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                                  std::vector<std::string>& out) = 0;

  // A cheap round trip to the database (SELECT 1), for /healthz and recovery probes.
  virtual StoreStatus ping() = 0;

  // Housekeeping the store wants done off the write path (SQLite: a WAL checkpoint), called
  // about once a second by a StoreMaintainer when wantsMaintenance(). Best effort: failures are
  // the next call's business.
  virtual bool wantsMaintenance() const { return false; }
  virtual void maintain() {}
  // Any thread, for /healthz and /metrics.
  virtual StoreBacklog backlog() const { return {}; }
};

// The largest id or count either store can hold (a signed 64-bit column).
inline constexpr std::int64_t kMaxStoredInteger = std::numeric_limits<std::int64_t>::max();

// One step of a store's schema history: applied once, in order, never edited after release.
struct Migration {
  int version;
  const char* sql;
};

// Both stores accept exactly the same batches: ids in 1..2^63-1 (a signed 64-bit column) and
// text without NUL bytes (PostgreSQL cannot store NUL). Returns why not, or "" when fine.
std::string validateBatch(std::span<const StoredMessage> batch);

// Opens (creating and migrating the schema as needed) the store named by `url`:
//   sqlite:PATH           e.g. sqlite:./data/parley.db (parent directories are created)
//   postgres://user:pass@host:port/dbname   (also postgresql://)
// Each call returns a new connection: callers open one per thread. Throws std::runtime_error with
// a clear message at start-up: bad URL, unreachable database, or a schema newer than this binary.
std::unique_ptr<MessageStore> openStore(const std::string& url);

}  // namespace parley::store
