// PostgresStore: the message store in a PostgreSQL database, which several servers may share.
// One connection per object, used by one thread at a time; never leaves a transaction open
// between calls and never logs a password. PostgresStore.cpp passes 600 lines: every statement
// goes through the one connection's call-and-reconnect (call()), which a second file would have
// to expose.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreConnection.h"

struct pg_conn;
struct pg_result;

namespace parley::store {

class PostgresStore final : public StoreConnection {
 public:
  // Connects to `url` (a postgres:// or postgresql:// URI, handed to libpq as is) and migrates
  // the schema (store/PostgresSchema). Throws std::runtime_error when the server is unreachable,
  // refuses us, or holds a schema newer than ours.
  explicit PostgresStore(const std::string& url);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // `url` with any password replaced by "***", fit for logs and error messages.
  static std::string redacted(std::string_view url);

  std::string_view kind() const override { return "postgres"; }
  StoreStatus append(std::span<const StoredMessage> batch) override;
  StoreStatus lastId(std::string_view room, std::uint64_t& out) override;
  StoreStatus after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                    std::vector<StoredMessage>& out) override;
  StoreStatus before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                     std::vector<StoredMessage>& out) override;
  StoreStatus findByClientId(std::string_view room, std::string_view username,
                             std::string_view clientId, std::int64_t notBeforeMillis,
                             std::optional<StoredMessage>& out) override;
  StoreStatus rooms(std::size_t limit, std::vector<RoomSummary>& out) override;
  StoreStatus applyChanges(std::span<MessageChange> changes) override;
  StoreStatus pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) override;
  StoreStatus pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) override;
  StoreStatus createAccount(const Account& account, bool& created) override;
  StoreStatus findAccounts(std::string_view key, std::vector<Account>& out) override;
  StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                          std::vector<std::string>& out) override;
  StoreStatus probeWrite() override;

  // RoomStore: one statement per call (one transaction), unprepared (rooms change rarely).
  StoreStatus createRoom(const RegisteredRoom& room, bool& created) override;
  StoreStatus putMember(std::string_view room, const RoomGrant& grant) override;
  StoreStatus removeMember(std::string_view room, std::string_view userKey) override;
  StoreStatus putBan(std::string_view room, const RoomBan& ban) override;
  StoreStatus removeBan(std::string_view room, std::string_view userKey) override;
  StoreStatus loadRooms(std::vector<RegisteredRoom>& out) override;

 private:
  enum Stmt : std::size_t {
    kAppend,
    kStoredCount,
    kLastId,
    kAfter,
    kBefore,
    kFindClientId,
    kRooms,
    kRoomNames,
    kPruneKeepLast,
    kPruneOlderThan,
    kProbeWrite,
    kCreateAccount,
    kFindAccounts,
    kAccountKeys,
    kFindMessage,
    kEditMessage,
    kDeleteMessage,
    kStmtCount
  };
  struct Finish {
    void operator()(pg_conn* conn) const;
  };
  struct Clear {
    void operator()(pg_result* res) const;
  };
  using Result = std::unique_ptr<pg_result, Clear>;

  // Runs a prepared statement, preparing it first if this connection has not yet. On failure
  // `res` keeps the failed result (for its SQLSTATE) and `error` says why, on one line.
  bool exec(Stmt which, std::span<const char* const> params, Result& res, std::string& error);
  // Runs `sql` once, unprepared (PQexecParams).
  bool execSql(const char* sql, std::span<const char* const> params, Result& res,
               std::string& error);
  bool reconnect(std::string& error);
  // One store call: `attempt(error)` runs it; if the connection was or turns out to be lost,
  // reconnects once and runs it again before reporting failure.
  template <class Attempt>
  StoreStatus call(const char* what, Attempt&& attempt);
  bool applyInTransaction(std::span<MessageChange> changes, std::string& error);
  bool readMessages(Stmt which, std::span<const char* const> params, std::string_view room,
                    std::vector<StoredMessage>& out, std::string& error);

  std::string where_;  // redacted URL, for messages
  std::unique_ptr<pg_conn, Finish> conn_;
  std::array<bool, kStmtCount> prepared_{};  // on the current connection; cleared on reconnect
};

}  // namespace parley::store
