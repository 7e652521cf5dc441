// SqliteStore: the store in one local SQLite file (WAL), every call a transaction on the file
// itself. The server reaches it through an InboxStore (openStore), whose inbox takes the appends;
// on its own it serves the inbox's ingest and sqlite::memory:. One connection per object, used by
// one thread at a time: never shared, never called from an event loop.
// SqliteStore.cpp passes 600 lines and stays one file: every call runs on the one connection's
// prepared statements, in a transaction guarded by the same check that its files are still the
// ones opened (FileIdentity); the registered rooms' tables, which need neither, live apart
// (SqliteRoomTables).
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

#include "store/FileIdentity.h"
#include "store/SqliteRoomTables.h"
#include "store/StoreConnection.h"

struct sqlite3;
struct sqlite3_stmt;

namespace parley::store {

class SqliteStore final : public StoreConnection {
 public:
  // Opens or creates the database file at `path` (and its parent directories) and migrates it
  // (store/SqliteSchema). `syncEachCommit`: synchronous=FULL, every transaction is on the disk
  // when it returns (otherwise NORMAL: synced at checkpoints). Throws std::runtime_error when the
  // file cannot be opened or its schema is newer than ours.
  explicit SqliteStore(const std::string& path, bool syncEachCommit = false);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string_view kind() const override { return "sqlite"; }

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

  StoreStatus createAccount(const Account& account, bool& created) override;
  StoreStatus findAccounts(std::string_view key, std::vector<Account>& out) override;
  StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                          std::vector<std::string>& out) override;

  // RoomStore (store/SqliteRoomTables); writes refused once the file was lost, as appends are.
  StoreStatus createRoom(const RegisteredRoom& room, bool& created) override;
  StoreStatus putMember(std::string_view room, const RoomGrant& grant) override;
  StoreStatus removeMember(std::string_view room, std::string_view userKey) override;
  StoreStatus putBan(std::string_view room, const RoomBan& ban) override;
  StoreStatus removeBan(std::string_view room, std::string_view userKey) override;
  StoreStatus loadRooms(std::vector<RegisteredRoom>& out) override;

  StoreStatus pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) override;
  StoreStatus pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) override;
  StoreStatus probeWrite() override;
  bool wantsMaintenance() const override { return true; }
  void maintain() override;  // a passive WAL checkpoint

  // True when exactly `m` is stored (an inbox's check of a retried batch).
  bool holds(const StoredMessage& m);
  // A consistent copy of the whole database written to a new file at `path` (VACUUM INTO), also
  // when this file was deleted under us: how an inbox saves what it holds.
  StoreStatus copyTo(const std::string& path);

 private:
  enum Stmt : std::size_t {
    kBegin,
    kCommit,
    kRollback,
    kInsert,
    kTouchRoom,
    kHasExactly,
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
  struct CloseDb {
    void operator()(sqlite3* db) const;
  };
  struct Finalize {
    void operator()(sqlite3_stmt* stmt) const;
  };

  void configure();
  void prepareAll();
  void execOrThrow(const char* sql, const char* what);
  sqlite3_stmt* stmt(Stmt which) const { return stmts_[which].get(); }
  // Steps a statement that returns no rows and resets it; on failure, the database's message.
  bool run(Stmt which, std::string& error);
  bool insertAll(std::span<const StoredMessage> batch, std::string& error);
  bool storedExactly(std::span<const StoredMessage> batch);
  // One change inside applyChanges' transaction: decided and, when allowed, applied.
  bool applyOne(MessageChange& c, std::string& error);
  StoreStatus readMessages(Stmt which, std::string_view room, std::vector<StoredMessage>& out);
  StoreStatus failure(const char* what) const;
  // Why a write must not go ahead: the file was deleted or replaced since it was opened ("" when
  // it was not).
  std::string lost() const;

  std::string path_;
  FileIdentity file_;                     // the file opened (nothing for :memory:)
  int lastErrorCode_ = 0;                 // extended code of run()'s last failure
  std::unique_ptr<sqlite3, CloseDb> db_;  // declared first: statements are finalized before it
  std::array<std::unique_ptr<sqlite3_stmt, Finalize>, kStmtCount> stmts_;
  SqliteRoomTables roomTables_{nullptr};  // on db_, once it is open
};

}  // namespace parley::store
