// SqliteInbox: where a SQLite store's new messages become durable (an append-only log beside the
// database file, with an in-memory copy for readers) before they are ingested into the database
// in bulk, once a second, at idle priority. Never acknowledges a message that is not in the log;
// never drops one from the log before the database has it; never acknowledges one written into
// a file that was deleted or replaced under it (it refuses every write from then on, and saves
// what it holds: store/SqliteRescue).
//
// One file of ~600 lines: the log, its in-memory tail, its recovery and the checks on its files
// share one lock and one set of invariants (what is in the log, in memory and in the database).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/FileIdentity.h"
#include "store/MessageStore.h"
#include "store/StoreConnection.h"
#include "store/StoreUpkeep.h"

namespace parley::store {

class SqliteStore;

class SqliteInbox {
 public:
  // The inbox of the database file at `path`, shared by every connection of this process (the
  // first one opens the logs, takes their lock and ingests what a crash left in them; its `fsync`
  // policy is the process's). Throws std::runtime_error at start-up: logs that cannot be opened,
  // another process holding them, or recovered messages the database refuses.
  static std::shared_ptr<SqliteInbox> forPath(const std::string& path,
                                              FsyncPolicy fsync = FsyncPolicy::Batch);

  // Ingests what is left, then removes the logs (a cleanly closed database is one file again).
  // When the files were lost under it, saves what it holds instead (if maintain() has not yet)
  // and removes nothing.
  ~SqliteInbox();
  SqliteInbox(const SqliteInbox&) = delete;
  SqliteInbox& operator=(const SqliteInbox&) = delete;

  // What append() asks the database through the caller's connection: a room's last stored id
  // (once per room and process), and whether exactly this message is stored (retries only).
  struct Lookup {
    std::function<StoreStatus(std::string_view room, std::uint64_t& last)> lastId;
    std::function<bool(const StoredMessage&)> storedExactly;
  };

  // Makes `batch` durable: one write to the log (in the OS page cache when this returns, so it
  // survives kill -9; with FsyncPolicy Batch or Always, on the disk: one fdatasync), then visible
  // to readers. All or nothing. Refused when the database file or the log was deleted or replaced
  // (checked after the write: nothing is acknowledged into a lost file). Each room's ids must
  // ascend past everything stored; a batch that is stored already, exactly, is a no-op (a retry).
  // Past kSoftLimitMessages waiting, the caller ingests them itself (backpressure when idle time
  // never comes); past kHardLimitMessages (the database refuses them) it is refused.
  StoreStatus append(std::span<const StoredMessage> batch, const Lookup& lookup);

  // Moves everything waiting into the database in one transaction, then empties the log it came
  // from. Returns false (and keeps it all) when the database refused, or the files were lost.
  bool ingest();

  // The maintainer's tick: checks that the database file and both logs are still the ones
  // opened; if so, ingests and returns true (the caller may checkpoint). If not (now or
  // before), refuses writes for good, saves a copy of everything (once; retried each tick until
  // it succeeds) and returns false.
  bool maintain();

  // Edits and deletes (MessageStore::applyChanges): everything waiting is ingested first, then
  // the changes are applied in the database. Rare (people editing), so the cost of an ingest
  // per writer round that carries changes buys a log format and readers that know nothing of
  // changes (docs/decisions/0044-moderation.md). Call from the appending thread.
  StoreStatus applyChanges(std::span<MessageChange> changes);

  // The writer's probe while unhealthy: a record recovery skips (id 0), written where appends go
  // (synced as they are) and cut off again, then the files' check. Fails as append() would.
  StoreStatus probeWrite();

  // Why every write is refused for good ("" while the files are the ones opened).
  std::string refusal() const;
  // fdatasync calls made on the logs so far (each append and probe, under Batch and Always).
  std::uint64_t syncs() const;

  // Readers: what waits here for `room`, copied. Call BEFORE reading the database: a message
  // leaves the inbox only after the database has it, so the two reads together miss nothing
  // (and the caller merges by id, as the same message can be in both).
  // Ids in (afterId, beforeId) (beforeId 0: no bound), ascending, at most `limit`: the lowest
  // ones, or the highest when `newest`.
  void collect(std::string_view room, std::uint64_t afterId, std::uint64_t beforeId,
               std::size_t limit, bool newest, std::vector<StoredMessage>& out) const;
  std::uint64_t lastId(std::string_view room) const;  // 0: nothing waiting for the room
  std::optional<StoredMessage> findByClientId(std::string_view room, std::string_view username,
                                              std::string_view clientId,
                                              std::int64_t notBeforeMillis) const;
  void rooms(std::vector<RoomSummary>& out) const;
  std::size_t waiting() const;
  // What waits, and why the last ingest failed ("" once one succeeds).
  StoreBacklog backlog() const;

  // The soft limit is also the most a saturated server ingests at once on its writer: the stall
  // every delivery waits for (16,384 measured rooms p99 150-480 ms, 4,096: 32-147 ms, at ~1.6 us
  // more CPU per message: docs/ARCHITECTURE.md).
  static constexpr std::size_t kSoftLimitMessages = 4'096;
  static constexpr std::size_t kHardLimitMessages = 65'536;

  // The log's record format, exposed for tests: [u32 payload size][u32 CRC-32 of the payload]
  // [payload: u64 id, i64 unix ms, u32 sizes of room, username, content, client id, then their
  // bytes; the room's size has the signedIn flag in its top bit], native byte order (the log never
  // leaves the machine). decodeLog stops at the first record that is cut short or fails its
  // checksum (a write that a crash interrupted). A record with id 0 is a probe's (no message has id
  // 0): recovery skips it.
  static void encodeRecord(const StoredMessage& m, std::string& out);
  static std::vector<StoredMessage> decodeLog(std::string_view bytes);

 private:
  SqliteInbox(std::string path, FsyncPolicy fsync);

  // Messages in arrival order, and each room's positions among them (ids ascending).
  struct Generation {
    std::vector<StoredMessage> messages;
    std::unordered_map<std::string, std::vector<std::uint32_t>, StringHash, std::equal_to<>> byRoom;
    void add(StoredMessage m);
    void absorb(Generation&& later);
  };
  template <typename Visit>
  void forRoom(std::string_view room, Visit&& visit) const;  // sealed first, then open; locked
  // Why `batch` cannot be appended ("" when it can); `retry` is set when all of it is stored.
  std::string checkIds(std::span<const StoredMessage> batch, const Lookup& lookup, bool& retry);
  bool ingestLocked();  // ingest() with ingestMutex_ held
  std::size_t waitingLocked() const { return open_.messages.size() + sealed_.messages.size(); }
  void undoIdChecks();  // puts back what checkIds moved
  // With appendMutex_ (not mutex_): writes `bytes` at the end of the active log, checks the
  // files, syncs when the policy says so; on any failure cuts the log back to where it was. ""
  // or why it failed.
  std::string writeToLog(std::string_view bytes);
  // Why the files are not the ones opened ("" while they are): the database's path and the
  // active log (its last name gone), or with `both`, the database and both logs by path.
  std::string lostLocked(bool both) const;
  void detachLocked(const std::string& why);  // refuses writes for good, and says so loudly
  // With ingestMutex_: saves the database and `waiting` (store/SqliteRescue).
  void rescueLocked(const std::vector<StoredMessage>& waiting);
  bool checkAndRescue();  // with ingestMutex_: maintain()'s check
  void closeLogs();
  void recover();

  std::string path_;
  FsyncPolicy fsync_;
  FileIdentity database_;        // the files as opened, checked after every write (const after
  FileIdentity logs_[2];         // the constructor)
  FileIdentity sqliteFiles_[2];  // the database's -wal and -shm as opened (moved aside if lost)
  int fds_[2] = {-1, -1};        // the logs (const after the constructor)
  std::atomic<std::uint64_t> syncs_{0};

  std::unique_ptr<SqliteStore> db_;  // the ingesting connection; under ingestMutex_
  std::mutex ingestMutex_;           // one ingest at a time (maintainer, full inbox, close)
  bool rescued_ = false;             // under ingestMutex_
  std::string rescueError_;          // under ingestMutex_: the last failed rescue's reason

  // One append (or probe) at a time from its checks to its publish, and no log switch in
  // between. Lock order: ingestMutex_, appendMutex_, mutex_.
  std::mutex appendMutex_;
  std::string encoded_;  // the append buffer, kept between calls; under appendMutex_
  // Each room's last id appended or stored, for every room appended to since the start, and
  // checkIds' changes to it; under appendMutex_ (checkIds also holds mutex_).
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> lastIds_;
  std::vector<std::pair<std::uint64_t*, std::uint64_t>> undo_;

  mutable std::mutex mutex_;  // everything below
  int active_ = 0;  // appends go to fds_[active_]; changed under appendMutex_ too (either reads)
  std::uint64_t sizes_[2] = {0, 0};  // the active log's: the appender's (appendMutex_)
  Generation open_;                  // appended since the last ingest began
  Generation sealed_;        // being ingested (read by the ingest without the lock; changed only
                             // under both locks)
  std::string ingestError_;  // the last ingest's failure, "" after a success
  std::string detached_;     // why every write is refused for good ("" while the files are ours)
};

}  // namespace parley::store
