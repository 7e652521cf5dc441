// StoreWriter: the one thread that gives chat messages their ids and makes them durable, many at
// a time (all batches waiting when it wakes go in ONE transaction: group commit).
// Never called on the write path with a lock held for more than a queue push; never reorders.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/StoreConnection.h"

namespace parley::store {

struct Retention {
  std::size_t keepPerRoom = 0;    // 0: no count limit
  std::int64_t maxAgeMs = 0;      // 0: no age limit
  std::int64_t everyMs = 60'000;  // how often the pruning runs
};

class StoreWriter {
 public:
  // Called on the writer thread once the batch is committed (ok: messages carry their ids) or
  // refused (nothing of it was stored, and no id was used up).
  using Done = std::function<void(const StoreStatus&, std::vector<StoredMessage>&&)>;

  // `store`: the writer thread's own connection (its messages and upkeep: appends, retention,
  // the recovery probe, the backlog). `linger`: how long a commit may wait for the rest of a
  // wave under heavy load (see below; zero: never).
  StoreWriter(std::unique_ptr<StoreConnection> store, Retention retention,
              std::chrono::milliseconds linger = std::chrono::milliseconds(0));
  ~StoreWriter();  // commits what is queued, then stops
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Any thread. `messages` (ids 0) keep their order within their room.
  void submit(std::vector<StoredMessage> messages, Done done);

  // Called on the writer thread with the highest id of `room` that is durable once everything
  // submitted before the marker (from the same thread) is: the exact seam for a catch-up read.
  using MarkerDone = std::function<void(const StoreStatus&, std::uint64_t lastId)>;
  void submitMarker(std::string room, MarkerDone done);

  // Any thread: the rooms' last ids the writer remembers are read from the store again before
  // their next commit (a cluster instance that takes a bucket calls it: the previous owner wrote
  // ids this writer never saw; without it the first commit would collide and be refused).
  void forgetLastIds();

  // Called on the writer thread once `changes` were decided and applied (each with its outcome)
  // or refused (status not ok: none of them was applied).
  using ChangesDone = std::function<void(const StoreStatus&, std::vector<MessageChange>&&)>;
  // Any thread. Applied in the commit that takes them, after that commit's messages: so after
  // every message submitted before them from the same thread (the only ones they can refer to).
  void submitChanges(std::vector<MessageChange> changes, ChangesDone done);

  // Any thread: false from a failed commit until a write succeeds again (a commit, or the probe,
  // a write, that the writer makes every second meanwhile), and while the store refuses every
  // write (store refusal(): its files lost); lastError() says why.
  bool healthy() const;
  std::string lastError() const;
  // The store's backlog (SQLite: messages in the inbox log, not yet in the database); any thread.
  StoreBacklog backlog() const { return store_->backlog(); }
  std::string_view kind() const { return kind_; }
  std::uint64_t committed() const;

 private:
  struct Batch {
    std::vector<StoredMessage> messages;
    Done done;
    // A marker instead of messages:
    std::string markerRoom;
    MarkerDone markerDone;
    std::uint64_t markerAssigned = 0;  // last id given in the room up to the marker
    std::uint64_t markerDurable = 0;   // last id durable before this commit
    // Edits and deletes instead of messages:
    std::vector<MessageChange> changes;
    ChangesDone changesDone;
  };
  void run();
  void commit(std::deque<Batch>& batches);
  void setHealth(const StoreStatus& status);  // the outcome of a write: a commit or the probe
  void prune();

  std::unique_ptr<StoreConnection> store_;  // the writer thread's (backlog() is any thread's)
  Retention retention_;
  std::string kind_;
  // Each room's last id, once known (writer thread only).
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> lastIds_;
  std::atomic<bool> forgetLastIds_{false};

  // Group commit under load: gather for up to kGatherMs when the last commit was less than
  // kBusyWithin ago, or until kFullBatch messages wait.
  static constexpr std::chrono::milliseconds kGatherMs{1};
  static constexpr std::chrono::milliseconds kBusyWithin{5};
  static constexpr std::size_t kFullBatch = 512;
  std::chrono::steady_clock::time_point lastCommit_{};  // writer thread only
  // Lingering for a wave (a cluster owner's, decision 0046): when one of the last kWaveMemory
  // commits carried at least kLingerFrom messages, wait up to linger_ until as many as the
  // largest of them are queued. Light traffic (smaller commits) never lingers; a wave that came
  // is remembered as the wave, a wait that ran out forgets them all (no wait feeds the next).
  // 32, not 16: a stall of the store makes a natural commit of 16+ at 1,000 msg/s, and each
  // then cost a 15 ms wait (rate's x3 p99 +3-4 ms on a noisy hour); fanout's waves are 80.
  static constexpr std::size_t kLingerFrom = 32;
  static constexpr std::size_t kWaveMemory = 4;
  std::size_t waveTarget() const;  // writer thread only
  std::chrono::milliseconds linger_;
  std::size_t recentCommits_[kWaveMemory] = {};  // messages of the last commits (writer thread)
  std::size_t recentNext_ = 0;
  std::size_t wakeAt_ = kFullBatch;  // queued messages that wake a gathering writer (mutex_)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Batch> queue_;
  std::size_t queuedMessages_ = 0;
  bool idle_ = false;  // the writer waits for work (a submit must wake it)
  bool stopping_ = false;
  bool healthy_ = true;
  std::string lastError_;
  std::uint64_t committed_ = 0;
  std::thread thread_;
};

}  // namespace parley::store
