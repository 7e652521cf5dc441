// InboxStore: the SQLite store as the server opens it (openStore("sqlite:PATH")): a SqliteStore
// with the file's SqliteInbox in front. Appends become durable in the inbox's log and reach the
// database in bulk (maintain()); reads see both, merged by id; accounts go straight to the
// database. One connection per object, used by one thread at a time; the inbox behind it is
// shared by every InboxStore of the file in this process. Never acknowledges an append that is
// not in the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreConnection.h"

namespace parley::store {

class SqliteInbox;
class SqliteStore;

class InboxStore final : public StoreConnection {
 public:
  // Opens the database at `path` (a SqliteStore) and joins the file's inbox, which the first
  // opener in the process creates: it takes the logs' lock and ingests what a crash left in them.
  // `fsync`: when the inbox's log and the database are synced (FsyncPolicy). Throws
  // std::runtime_error at start-up (see SqliteStore and SqliteInbox::forPath).
  InboxStore(const std::string& path, FsyncPolicy fsync);
  ~InboxStore() override;
  InboxStore(const InboxStore&) = delete;
  InboxStore& operator=(const InboxStore&) = delete;

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
  // Through the inbox: what waits is ingested first (SqliteInbox::applyChanges).
  StoreStatus applyChanges(std::span<MessageChange> changes) override;

  StoreStatus createAccount(const Account& account, bool& created) override;
  StoreStatus findAccounts(std::string_view key, std::vector<Account>& out) override;
  StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                          std::vector<std::string>& out) override;

  // Registered rooms go straight to the database, as accounts do.
  StoreStatus createRoom(const RegisteredRoom& room, bool& created) override;
  StoreStatus putMember(std::string_view room, const RoomGrant& grant) override;
  StoreStatus removeMember(std::string_view room, std::string_view userKey) override;
  StoreStatus putBan(std::string_view room, const RoomBan& ban) override;
  StoreStatus removeBan(std::string_view room, std::string_view userKey) override;
  StoreStatus loadRooms(std::vector<RegisteredRoom>& out) override;

  // Retention ingests what waits first: it counts too.
  StoreStatus pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) override;
  StoreStatus pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) override;
  StoreStatus probeWrite() override;  // the inbox's: a probe record through its log
  bool wantsMaintenance() const override { return true; }
  // The inbox's check of its files and ingest, then a WAL checkpoint (none once the files are
  // lost: the inbox saves what it holds instead).
  void maintain() override;
  StoreBacklog backlog() const override;
  std::string refusal() const override;

 private:
  std::unique_ptr<SqliteStore> db_;     // this connection to the file
  std::shared_ptr<SqliteInbox> inbox_;  // the file's, shared by this process's connections
};

}  // namespace parley::store
