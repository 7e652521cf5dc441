#include "store/StoreWriter.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

namespace parley::store {

namespace {

std::int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

StoreWriter::StoreWriter(std::unique_ptr<StoreConnection> store, Retention retention,
                         std::chrono::milliseconds linger)
    : store_(std::move(store)), retention_(retention), kind_(store_->kind()), linger_(linger) {
  thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void StoreWriter::submit(std::vector<StoredMessage> messages, Done done) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    queuedMessages_ += messages.size();
    Batch b;
    b.messages = std::move(messages);
    b.done = std::move(done);
    queue_.push_back(std::move(b));
    // A futex wake costs a system call: only when the writer sleeps idle or a batch is full.
    wake = idle_ || queuedMessages_ >= wakeAt_;
  }
  if (wake) wake_.notify_one();
}

std::size_t StoreWriter::waveTarget() const {
  std::size_t largest = 0;
  for (std::size_t n : recentCommits_) largest = std::max(largest, n);
  return largest >= kLingerFrom ? std::min(largest, kFullBatch) : 0;
}

void StoreWriter::submitMarker(std::string room, MarkerDone done) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    Batch b;
    b.markerRoom = std::move(room);
    b.markerDone = std::move(done);
    queue_.push_back(std::move(b));
    wake = idle_;
  }
  if (wake) wake_.notify_one();
}

void StoreWriter::submitChanges(std::vector<MessageChange> changes, ChangesDone done) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    Batch b;
    b.changes = std::move(changes);
    b.changesDone = std::move(done);
    queue_.push_back(std::move(b));
    wake = idle_;
  }
  if (wake) wake_.notify_one();
}

bool StoreWriter::healthy() const {
  {
    std::lock_guard lock(mutex_);
    if (!healthy_) return false;
  }
  // Lost files refuse every write from the moment the maintainer notices, traffic or not.
  return store_->refusal().empty();
}

std::string StoreWriter::lastError() const {
  if (std::string why = store_->refusal(); !why.empty()) return why;
  std::lock_guard lock(mutex_);
  return lastError_;
}

void StoreWriter::setHealth(const StoreStatus& status) {
  bool recovered;
  {
    std::lock_guard lock(mutex_);
    recovered = status.ok && !healthy_;
    healthy_ = status.ok;
    if (!status.ok) lastError_ = status.error;
  }
  if (recovered) std::fprintf(stderr, "store: writes succeed again\n");
}

std::uint64_t StoreWriter::committed() const {
  std::lock_guard lock(mutex_);
  return committed_;
}

void StoreWriter::run() {
  pthread_setname_np(pthread_self(), "store-writer");  // for top -H, perf, /proc
  const bool pruning = retention_.keepPerRoom > 0 || retention_.maxAgeMs > 0;
  auto nextPrune = std::chrono::steady_clock::now() + std::chrono::milliseconds(retention_.everyMs);
  std::deque<Batch> batches;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // While unhealthy, wake every second to probe, so /healthz sees a recovery with no traffic.
      const auto wait = !healthy_ ? std::chrono::milliseconds(1000)
                        : pruning ? std::chrono::milliseconds(retention_.everyMs)
                                  : std::chrono::milliseconds(60'000);
      idle_ = true;
      wake_.wait_for(lock, wait, [this] { return stopping_ || !queue_.empty(); });
      idle_ = false;
      if (queue_.empty() && stopping_) return;
      // Under sustained load (the previous commit was moments ago), wait a little for more:
      // one transaction per kGatherMs instead of one per wake-up. Light traffic commits at
      // once. Submitters do not wake us meanwhile, unless a batch is full.
      //
      // Under heavy load that comes in waves, wait for the rest of the wave (decision 0046): a
      // cluster owner's sends come from every instance's members, each instance's share when
      // that instance has fanned the previous commit out, one after the other on a busy
      // machine. Committing each share on its own splits one commit into one per instance, and
      // every member then gets a write per share instead of one per wave (three instances on
      // one core: 26 messages per write against 80, CPU per delivery 1.7x of one instance).
      // So, when recent commits were large, wait (up to linger_) until as many messages as the
      // largest of them are queued. Light traffic never waits; a wave that came whole (one
      // instance) does not either.
      const std::size_t wave = linger_.count() > 0 ? waveTarget() : 0;
      if (!stopping_ && queuedMessages_ > 0 && wave > queuedMessages_) {
        wakeAt_ = wave;
        const bool whole = wake_.wait_for(
            lock, linger_, [this, wave] { return stopping_ || queuedMessages_ >= wave; });
        wakeAt_ = kFullBatch;
        // What the memory learns from a wait must not feed the next one. A wave that came whole
        // counts as the wave, not with what came on top of it while waiting (steady traffic
        // would ratchet every commit up to the full linger: x1 rooms p50 3.6 -> 16.5 ms). One
        // that did not come is forgotten with the rest (a wait that gathers ~16 messages would
        // otherwise retrigger itself: rate at 1,000 msg/s once ran every commit at the full
        // linger, x3 p99 15 ms against 8.6).
        if (whole && !stopping_) {
          recentCommits_[recentNext_++ % kWaveMemory] = wave;
        } else {
          std::fill(std::begin(recentCommits_), std::end(recentCommits_), std::size_t{0});
        }
      } else {
        const auto sinceCommit = std::chrono::steady_clock::now() - lastCommit_;
        if (!stopping_ && sinceCommit < kBusyWithin && queuedMessages_ < kFullBatch)
          wake_.wait_for(lock, kGatherMs,
                         [this] { return stopping_ || queuedMessages_ >= kFullBatch; });
        if (queuedMessages_ > 0) recentCommits_[recentNext_++ % kWaveMemory] = queuedMessages_;
      }
      batches.swap(queue_);
      queuedMessages_ = 0;
    }
    if (!batches.empty()) {
      lastCommit_ = std::chrono::steady_clock::now();
      commit(batches);
    }
    batches.clear();
    if (pruning && std::chrono::steady_clock::now() >= nextPrune) {
      prune();  // between commits, in small chunks: writers wait at most one chunk
      nextPrune = std::chrono::steady_clock::now() + std::chrono::milliseconds(retention_.everyMs);
    }
    bool probe;
    {
      std::lock_guard lock(mutex_);
      probe = !healthy_ && queue_.empty();
    }
    // The probe is a write (a read succeeds while every append fails): healthy again only
    // once something could be written.
    if (probe) setHealth(store_->probeWrite());
  }
}

void StoreWriter::forgetLastIds() { forgetLastIds_.store(true, std::memory_order_release); }

void StoreWriter::commit(std::deque<Batch>& batches) {
  // Another writer (a cluster's previous owner of some rooms) may have appended since these
  // were learnt: read each room's last id again when it next commits.
  if (forgetLastIds_.exchange(false, std::memory_order_acq_rel)) lastIds_.clear();
  // The messages move into one span for the transaction and back (no string copies), and the
  // room keys below are views into that span, which stays put until the end.
  std::size_t count = 0;
  for (auto& b : batches) count += b.messages.size();
  std::vector<StoredMessage> all;
  all.reserve(count);
  for (auto& b : batches)
    for (auto& m : b.messages) all.push_back(std::move(m));

  // Sends the owner could not vouch for (StoredMessage::checkClientIdSince): a retry of one
  // stored before a restart is answered with the stored original and not stored again. Only
  // during the window after a start, so the lookup (an index probe) is rare.
  StoreStatus status;
  std::size_t duplicates = 0;
  for (auto& m : all) {
    if (m.checkClientIdSince <= 0 || m.clientId.empty() || !status.ok) continue;
    std::optional<StoredMessage> original;
    status = store_->findByClientId(m.room, m.username, m.clientId, m.checkClientIdSince, original);
    if (status.ok && original) {
      m = std::move(*original);
      m.duplicate = true;
      ++duplicates;
    }
  }

  // Ids are given here, on the one thread that writes, so a refused transaction uses none up.
  struct Cursor {
    std::uint64_t next;     // last id given so far
    std::uint64_t durable;  // last id before this commit
  };
  std::unordered_map<std::string_view, Cursor> cursors;
  auto cursor = [&](std::string_view room) -> Cursor& {
    auto it = cursors.find(room);
    if (it != cursors.end()) return it->second;
    std::uint64_t last = 0;
    if (auto known = lastIds_.find(room); known != lastIds_.end())
      last = known->second;
    else if (status.ok)
      status = store_->lastId(room, last);
    return cursors.emplace(room, Cursor{last, last}).first->second;
  };
  std::size_t k = 0;
  for (auto& b : batches) {
    if (b.markerDone) {
      const Cursor& c = cursor(b.markerRoom);
      b.markerAssigned = c.next;
      b.markerDurable = c.durable;
      continue;
    }
    for (std::size_t i = 0; i < b.messages.size(); ++i, ++k)
      if (!all[k].duplicate) all[k].id = ++cursor(all[k].room).next;
  }
  if (status.ok && count > duplicates) {
    if (duplicates == 0) {
      status = store_->append(all);
    } else {
      std::vector<StoredMessage> fresh;  // rare: a retry after a restart
      fresh.reserve(count - duplicates);
      for (const auto& m : all)
        if (!m.duplicate) fresh.push_back(m);
      status = store_->append(fresh);
    }
  }
  if (status.ok)
    for (auto& [room, c] : cursors) {
      if (auto it = lastIds_.find(room); it != lastIds_.end())
        it->second = c.next;
      else
        lastIds_.emplace(std::string(room), c.next);
    }
  else
    for (auto& [room, c] : cursors)  // re-read after a failure: trust the store
      if (auto it = lastIds_.find(room); it != lastIds_.end()) lastIds_.erase(it);
  cursors.clear();  // its keys point into `all`, which goes back to the batches now
  k = 0;
  for (auto& b : batches)
    for (auto& m : b.messages) m = std::move(all[k++]);
  // Edits and deletes, after the messages (they refer to earlier ones only), in one transaction
  // of their own: rare, and a refused change must not take the messages down with it.
  std::vector<MessageChange> changes;
  for (auto& b : batches)
    for (auto& c : b.changes) changes.push_back(std::move(c));
  StoreStatus changeStatus = status;
  if (status.ok && !changes.empty()) changeStatus = store_->applyChanges(changes);
  if (!changeStatus.ok && status.ok)
    std::fprintf(stderr, "store: changes failed: %s\n", changeStatus.error.c_str());
  // Health follows writes: a commit of markers alone read the store and wrote nothing.
  if (count > 0 || !status.ok) setHealth(status);
  if (status.ok && !changes.empty()) setHealth(changeStatus);
  if (status.ok) {
    std::lock_guard lock(mutex_);
    committed_ += count - duplicates;
  }
  if (!status.ok) std::fprintf(stderr, "store: commit failed: %s\n", status.error.c_str());
  std::size_t c = 0;
  for (auto& b : batches) {
    if (b.markerDone) {
      b.markerDone(status, status.ok ? b.markerAssigned : b.markerDurable);
      continue;
    }
    if (b.changesDone) {
      for (auto& change : b.changes) change = std::move(changes[c++]);
      b.changesDone(changeStatus, std::move(b.changes));
      continue;
    }
    if (!status.ok)
      for (auto& m : b.messages) {
        m.id = 0;
        m.duplicate = false;  // nothing of the commit counts: the sender hears store_unavailable
      }
    b.done(status, std::move(b.messages));
  }
}

void StoreWriter::prune() {
  std::uint64_t deleted = 0;
  StoreStatus s;
  if (retention_.keepPerRoom > 0) s = store_->pruneKeepLast(retention_.keepPerRoom, deleted);
  if (s.ok && retention_.maxAgeMs > 0)
    s = store_->pruneOlderThan(nowMs() - retention_.maxAgeMs, deleted);
  if (!s.ok) std::fprintf(stderr, "store: retention failed: %s\n", s.error.c_str());
}

}  // namespace parley::store
