// SqliteInbox: the durable log in front of a SQLite file and its in-memory tail (SqliteInbox.h).
// One file past ~600 lines on purpose: the log format, its replay after a crash, the ingest and
// the per-process registry share one lock and one set of invariants (ids ascend per room across
// log and database); split, each half would have to re-state them.
#include "store/SqliteInbox.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "store/SqliteRescue.h"
#include "store/SqliteStore.h"

namespace parley::store {

namespace {

constexpr std::size_t kHeaderBytes = 8;
constexpr std::size_t kFixedPayloadBytes = 8 + 8 + 4 * 4;
// The room's length field carries the message's signedIn flag in its top bit (room names are at
// most 64 bytes): records written before the flag existed read as not signed in, and the record
// layout, hence every log a crash left behind, stays as it was.
constexpr std::uint32_t kSignedInBit = 0x8000'0000u;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint32_t checksum(const char* p, std::size_t n) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n)));
}

std::string logPath(const std::string& db, int which) {
  return db + "-inbox-" + std::to_string(which);
}

std::runtime_error startupError(const std::string& path, const std::string& what) {
  return std::runtime_error("sqlite " + path + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

void SqliteInbox::encodeRecord(const StoredMessage& m, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + kHeaderBytes);
  put<std::uint64_t>(out, m.id);
  put<std::int64_t>(out, m.unixMillis);
  for (const std::string* s : {&m.room, &m.username, &m.content, &m.clientId}) {
    auto size = static_cast<std::uint32_t>(s->size());
    if (s == &m.room && m.signedIn) size |= kSignedInBit;
    put<std::uint32_t>(out, size);
  }
  for (const std::string* s : {&m.room, &m.username, &m.content, &m.clientId}) out.append(*s);
  const std::size_t payload = out.size() - start - kHeaderBytes;
  const auto size = static_cast<std::uint32_t>(payload);
  const std::uint32_t crc = checksum(out.data() + start + kHeaderBytes, payload);
  std::memcpy(out.data() + start, &size, 4);
  std::memcpy(out.data() + start + 4, &crc, 4);
}

std::vector<StoredMessage> SqliteInbox::decodeLog(std::string_view bytes) {
  std::vector<StoredMessage> out;
  std::size_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    const char* h = bytes.data() + pos;
    const auto size = get<std::uint32_t>(h);
    if (size < kFixedPayloadBytes || bytes.size() - pos - kHeaderBytes < size) break;
    const char* p = h + kHeaderBytes;
    if (checksum(p, size) != get<std::uint32_t>(h + 4)) break;
    std::uint32_t lens[4];
    std::size_t total = kFixedPayloadBytes;
    bool signedIn = false;
    for (int i = 0; i < 4; ++i) {
      lens[i] = get<std::uint32_t>(p + 16 + 4 * i);
      if (i == 0) {
        signedIn = (lens[0] & kSignedInBit) != 0;
        lens[0] &= ~kSignedInBit;
      }
      total += lens[i];
    }
    if (total != size) break;  // a checksum collision on garbage: treat as the end
    StoredMessage& m = out.emplace_back();
    m.id = get<std::uint64_t>(p);
    m.unixMillis = get<std::int64_t>(p + 8);
    m.signedIn = signedIn;
    const char* s = p + kFixedPayloadBytes;
    for (int i = 0; i < 4; ++i) {
      std::string& field = i == 0 ? m.room : i == 1 ? m.username : i == 2 ? m.content : m.clientId;
      field.assign(s, lens[i]);
      s += lens[i];
    }
    pos += kHeaderBytes + size;
  }
  return out;
}

void SqliteInbox::Generation::add(StoredMessage m) {
  auto it = byRoom.find(std::string_view(m.room));
  if (it == byRoom.end()) it = byRoom.emplace(m.room, std::vector<std::uint32_t>{}).first;
  it->second.push_back(static_cast<std::uint32_t>(messages.size()));
  messages.push_back(std::move(m));
}

void SqliteInbox::Generation::absorb(Generation&& later) {
  if (messages.empty())
    std::swap(*this, later);
  else
    for (auto& m : later.messages) add(std::move(m));
  later = Generation{};
}

std::shared_ptr<SqliteInbox> SqliteInbox::forPath(const std::string& path, FsyncPolicy fsync) {
  // One inbox per file and process, whatever path spelling each connection was given: they
  // must all read the same tail, and only one may write the logs. An entry stays until its
  // inbox is destroyed, not merely unreferenced: the destructor still ingests and holds the
  // logs' lock, and an opener that came in between would find the file "in use".
  struct Registry {
    std::mutex mutex;
    std::condition_variable closed;
    std::map<std::string, std::weak_ptr<SqliteInbox>> inboxes;
  };
  static Registry registry;
  std::error_code ec;
  std::string key = std::filesystem::weakly_canonical(path, ec).string();
  if (ec || key.empty()) key = path;
  std::unique_lock lock(registry.mutex);
  for (;;) {
    auto it = registry.inboxes.find(key);
    if (it == registry.inboxes.end()) break;
    if (auto existing = it->second.lock()) return existing;
    registry.closed.wait(lock);
  }
  std::shared_ptr<SqliteInbox> inbox(new SqliteInbox(key, fsync), [key](SqliteInbox* dying) {
    delete dying;
    std::lock_guard done(registry.mutex);
    registry.inboxes.erase(key);
    registry.closed.notify_all();
  });
  registry.inboxes.emplace(key, inbox);
  return inbox;
}

SqliteInbox::SqliteInbox(std::string path, FsyncPolicy fsync)
    : path_(std::move(path)), fsync_(fsync) {
  // Under Batch and Always the ingest's transaction is synced before the log it emptied is cut:
  // an OS crash must not find the log empty and the database without its messages.
  db_ = std::make_unique<SqliteStore>(path_, fsync_ != FsyncPolicy::None);
  database_ = FileIdentity::ofPath(path_);
  sqliteFiles_[0] = FileIdentity::ofPathIfAny(path_ + "-wal");
  sqliteFiles_[1] = FileIdentity::ofPathIfAny(path_ + "-shm");
  for (int i = 0; i < 2; ++i) {
    const std::string p = logPath(path_, i);
    fds_[i] = ::open(p.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fds_[i] < 0) {
      const auto error = startupError(path_, "cannot open " + p);
      closeLogs();
      throw error;
    }
    logs_[i] = FileIdentity::ofOpenFile(p, fds_[i]);
  }
  // Synced appends need their logs' names to outlive an OS crash as well (and the database's).
  if (std::string error; fsync_ != FsyncPolicy::None && !syncDirectoryOf(path_, error)) {
    closeLogs();
    throw std::runtime_error("sqlite " + path_ + ": " + error);
  }
  // Two processes appending to one inbox would interleave ids and tails: refuse the second.
  if (::flock(fds_[0], LOCK_EX | LOCK_NB) != 0) {
    const bool held = errno == EWOULDBLOCK;
    closeLogs();
    if (held)
      throw std::runtime_error("sqlite " + path_ + ": the database is in use by another parley (" +
                               logPath(path_, 0) + " is locked)");
    throw startupError(path_, "cannot lock " + logPath(path_, 0));
  }
  try {
    recover();
  } catch (...) {
    closeLogs();
    throw;
  }
}

void SqliteInbox::closeLogs() {
  for (int& fd : fds_)
    if (fd >= 0) ::close(std::exchange(fd, -1));
}

void SqliteInbox::recover() {
  // What a crash left: every message in the logs that the database does not have yet (a crash
  // between an ingest's commit and its truncation leaves some it already has).
  std::vector<StoredMessage> found;
  for (int i = 0; i < 2; ++i) {
    std::string bytes;
    char buf[65536];
    ssize_t n;
    while ((n = ::pread(fds_[i], buf, sizeof buf, static_cast<off_t>(bytes.size()))) > 0)
      bytes.append(buf, static_cast<std::size_t>(n));
    if (n < 0) throw startupError(path_, "cannot read " + logPath(path_, i));
    for (auto& m : decodeLog(bytes)) found.push_back(std::move(m));
  }
  std::map<std::string, std::uint64_t, std::less<>> stored;
  std::vector<StoredMessage> missing;
  for (auto& m : found) {
    auto it = stored.find(std::string_view(m.room));
    if (it == stored.end()) {
      std::uint64_t last = 0;
      if (StoreStatus s = db_->lastId(m.room, last); !s.ok)
        throw std::runtime_error("sqlite " + path_ + ": inbox recovery: " + s.error);
      it = stored.emplace(m.room, last).first;
    }
    if (m.id > it->second) missing.push_back(std::move(m));
  }
  std::sort(missing.begin(), missing.end(), [](const StoredMessage& a, const StoredMessage& b) {
    return a.room != b.room ? a.room < b.room : a.id < b.id;
  });
  if (!missing.empty()) {
    if (StoreStatus s = db_->append(missing); !s.ok)
      throw std::runtime_error("sqlite " + path_ + ": inbox recovery: " + s.error);
    std::fprintf(stderr, "sqlite %s: recovered %zu messages from the inbox logs\n", path_.c_str(),
                 missing.size());
  }
  for (int i = 0; i < 2; ++i)
    if (::ftruncate(fds_[i], 0) != 0) throw startupError(path_, "cannot truncate the inbox log");
}

SqliteInbox::~SqliteInbox() {
  bool clean;
  {
    std::lock_guard ingesting(ingestMutex_);
    // Lost in the last second (before the maintainer's next look): saved now, or never.
    clean = checkAndRescue() && ingestLocked();
  }
  // Removed only when the database has everything (unlinking before the lock goes: a new
  // process then creates fresh files rather than locking the old ones), and only when they are
  // still ours: at a lost path, they may be another server's.
  if (clean)
    for (int i = 0; i < 2; ++i) ::unlink(logPath(path_, i).c_str());
  closeLogs();
}

std::string SqliteInbox::lostLocked(bool both) const {
  // After each append a stat of the database's path and an fstat of the log (~1.2 us here); on
  // the maintainer's tick every path.
  if (std::string why = database_.check(); !why.empty()) return why;
  if (!both) return logs_[active_].checkOpen(fds_[active_]);
  for (const FileIdentity& log : logs_)
    if (std::string why = log.check(); !why.empty()) return why;
  return {};
}

void SqliteInbox::detachLocked(const std::string& why) {
  if (!detached_.empty()) return;
  detached_ = why + " under the running server: writes are refused until it restarts";
  std::fprintf(stderr,
               "sqlite %s: ALERT: %s under the running server. Every write is refused from now "
               "on (store_unavailable): nothing is acknowledged into a file that no restart "
               "would open. Saving a copy of everything this server holds...\n",
               path_.c_str(), why.c_str());
}

bool SqliteInbox::checkAndRescue() {
  std::vector<StoredMessage> waiting;
  {
    // With appendMutex_: no append is between its write and its publish, and every later one
    // finds the inbox detached. What waits is then final: copied, in arrival order.
    std::lock_guard appending(appendMutex_);
    std::lock_guard lock(mutex_);
    if (detached_.empty()) {
      if (std::string why = lostLocked(true); !why.empty()) detachLocked(why);
    }
    if (detached_.empty()) return true;
    if (rescued_) return false;
    waiting.reserve(waitingLocked());
    for (const Generation* g : {&sealed_, &open_})
      waiting.insert(waiting.end(), g->messages.begin(), g->messages.end());
  }
  rescueLocked(waiting);
  return false;
}

void SqliteInbox::rescueLocked(const std::vector<StoredMessage>& waiting) {
  if (database_.check().empty()) {
    // Only a log was lost: the database is still the file at its path, and takes what waits.
    if (StoreStatus s = db_->append(waiting); !s.ok) {
      if (s.error != rescueError_)
        std::fprintf(stderr,
                     "sqlite %s: ALERT: cannot move the %zu messages waiting in the inbox into the "
                     "database: %s. Until it succeeds (tried again every second), they live only "
                     "in this process: keep it running.\n",
                     path_.c_str(), waiting.size(), s.error.c_str());
      rescueError_ = std::move(s.error);
      return;
    }
    rescued_ = true;
    std::fprintf(stderr,
                 "sqlite %s: ALERT: moved the %zu messages waiting in the inbox into the database, "
                 "which is still in place: a restart continues from it\n",
                 path_.c_str(), waiting.size());
    return;
  }
  std::string savedAt;
  // Moved aside with the copy: the old WAL would be replayed onto the next file of that name,
  // and the logs' messages recovered into it.
  const FileIdentity oldFiles[] = {sqliteFiles_[0], sqliteFiles_[1], logs_[0], logs_[1]};
  if (StoreStatus s = rescueSqliteDatabase(*db_, path_, waiting, oldFiles, savedAt); !s.ok) {
    if (s.error != rescueError_)
      std::fprintf(stderr,
                   "sqlite %s: ALERT: %s. Until it succeeds (tried again every second), what was "
                   "stored lives only in this process: keep it running.\n",
                   path_.c_str(), s.error.c_str());
    rescueError_ = std::move(s.error);
    return;
  }
  rescued_ = true;
  std::fprintf(stderr,
               "sqlite %s: ALERT: saved everything this server held (the database and %zu "
               "messages waiting in its inbox) to %s%s\n",
               path_.c_str(), waiting.size(), savedAt.c_str(),
               savedAt == path_ ? ": a restart continues from it"
                                : " (another file is at the database's path now: see which one "
                                  "to keep before restarting)");
}

bool SqliteInbox::maintain() {
  std::lock_guard ingesting(ingestMutex_);
  if (!checkAndRescue()) return false;
  ingestLocked();
  return true;
}

std::string SqliteInbox::writeToLog(std::string_view bytes) {
  // appendMutex_ held: no other append, and no ingest switching logs, until we are done; the
  // sync runs without mutex_, so readers and /healthz never wait for the disk.
  const int fd = fds_[active_];
  std::uint64_t& size = sizes_[active_];
  std::size_t done = 0;
  std::string why;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      why = "cannot write the inbox log: " +
            std::string(n < 0 ? std::strerror(errno) : "no progress");
      break;
    }
  }
  // Before the sync: a lost file need not be synced, and must not be acknowledged.
  if (why.empty()) {
    std::lock_guard lock(mutex_);
    if (std::string lost = lostLocked(false); !lost.empty()) {
      detachLocked(lost);
      why = detached_;
    }
  }
  if (why.empty() && fsync_ != FsyncPolicy::None) {
    syncs_.fetch_add(1, std::memory_order_relaxed);
    if (::fdatasync(fd) != 0)
      why = "cannot sync the inbox log: " + std::string(std::strerror(errno));
  }
  if (why.empty()) {
    size += done;
    return {};
  }
  // Cut off what part got in: recovery must never find half of a batch that was refused, nor
  // stop at it before later batches.
  if (done > 0 && ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::fprintf(stderr, "sqlite %s: cannot cut a failed append from the inbox log: %s\n",
                 path_.c_str(), std::strerror(errno));
    struct stat st {};  // what is there now is what the next cut goes back to
    if (::fstat(fd, &st) == 0) size = static_cast<std::uint64_t>(st.st_size);
  }
  return why;
}

std::string SqliteInbox::checkIds(std::span<const StoredMessage> batch, const Lookup& lookup,
                                  bool& retry) {
  // Each room's last id moves up as the batch goes on; a refusal puts them all back.
  undo_.clear();
  std::size_t fresh = 0;
  std::string why;
  for (const auto& m : batch) {
    auto it = lastIds_.find(std::string_view(m.room));
    if (it == lastIds_.end()) {
      std::uint64_t stored = 0;
      if (StoreStatus s = lookup.lastId(m.room, stored); !s.ok) {
        why = s.error;
        break;
      }
      it = lastIds_.emplace(m.room, stored).first;
    }
    if (m.id > it->second) {
      undo_.emplace_back(&it->second, it->second);
      it->second = m.id;
      ++fresh;
      continue;
    }
    bool same = false;
    forRoom(m.room, [&](const StoredMessage& w) { same = same || w == m; });
    if (!same && !lookup.storedExactly(m)) {
      why = "id " + std::to_string(m.id) + " of room \"" + m.room +
            "\" is taken (UNIQUE constraint: a room's ids continue its sequence)";
      break;
    }
  }
  // A retry is all or nothing, like the transaction it repeats.
  if (why.empty() && fresh != 0 && fresh != batch.size())
    why = "part of the batch is stored already (UNIQUE constraint: a retry repeats it whole)";
  if (!why.empty()) {
    undoIdChecks();
    return why;
  }
  retry = fresh == 0;
  return {};
}

void SqliteInbox::undoIdChecks() {
  for (auto u = undo_.rbegin(); u != undo_.rend(); ++u) *u->first = u->second;
}

StoreStatus SqliteInbox::append(std::span<const StoredMessage> batch, const Lookup& lookup) {
  if (batch.empty()) return {};
  bool full;
  {
    std::lock_guard appending(appendMutex_);
    {
      std::lock_guard lock(mutex_);
      if (!detached_.empty()) return StoreStatus::failure("sqlite append: " + detached_);
      if (waitingLocked() + batch.size() > kHardLimitMessages)
        return StoreStatus::failure("sqlite append: the inbox is full (the database is not " +
                                    std::string("taking its messages: see the log)"));
      bool retry = false;
      if (std::string why = checkIds(batch, lookup, retry); !why.empty())
        return StoreStatus::failure("sqlite append: " + why);
      if (retry) return {};
    }
    encoded_.clear();
    for (const auto& m : batch) encodeRecord(m, encoded_);
    std::string why = writeToLog(encoded_);
    if (encoded_.capacity() > (1u << 20)) std::string().swap(encoded_);
    // Visible to readers only now, durable as the policy says: a reader never sees an id that
    // a failed write or sync gives back.
    std::lock_guard lock(mutex_);
    if (!why.empty()) {
      undoIdChecks();
      return StoreStatus::failure("sqlite append: " + why);
    }
    for (const auto& m : batch) open_.add(m);
    full = waitingLocked() >= kSoftLimitMessages;
  }
  if (full) {
    // Backpressure: the writer waits here, its deliveries with it, until the database has taken
    // the backlog. An ingest under way is the idle-priority maintainer's: it gets the core once
    // the event loop, with nothing stored to deliver, runs out of work. (Not waiting, as first
    // written, let a saturated core starve it while the inbox filled to the hard limit: 3% of
    // the rooms benchmark's messages were refused.) Failures are logged; the hard limit then
    // refuses.
    std::lock_guard ingesting(ingestMutex_);
    if (waiting() >= kSoftLimitMessages) ingestLocked();
  }
  return {};
}

bool SqliteInbox::ingest() {
  std::lock_guard ingesting(ingestMutex_);
  return ingestLocked();
}

StoreStatus SqliteInbox::applyChanges(std::span<MessageChange> changes) {
  std::lock_guard ingesting(ingestMutex_);
  {
    std::lock_guard lock(mutex_);
    if (!detached_.empty()) return StoreStatus::failure("sqlite change: " + detached_);
  }
  // The messages changed may still wait here: the database takes everything first (appends
  // come from the caller's thread alone, so none slips in between), then the change, on the
  // ingesting connection, which syncs as the policy says.
  if (!ingestLocked()) {
    std::lock_guard lock(mutex_);
    return StoreStatus::failure("sqlite change: the inbox could not be ingested first: " +
                                (detached_.empty() ? ingestError_ : detached_));
  }
  return db_->applyChanges(changes);
}

StoreStatus SqliteInbox::probeWrite() {
  std::lock_guard appending(appendMutex_);
  {
    std::lock_guard lock(mutex_);
    if (!detached_.empty()) return StoreStatus::failure("sqlite probe: " + detached_);
    if (waitingLocked() >= kHardLimitMessages)
      return StoreStatus::failure(
          "sqlite probe: the inbox is full (the database is not taking its messages: see the "
          "log)");
  }
  encoded_.clear();
  encodeRecord(StoredMessage{}, encoded_);  // id 0: no message; recovery skips it
  const std::uint64_t before = sizes_[active_];
  if (std::string why = writeToLog(encoded_); !why.empty())
    return StoreStatus::failure("sqlite probe: " + why);
  if (::ftruncate(fds_[active_], static_cast<off_t>(before)) != 0)  // kept: recovery skips it
    return StoreStatus::failure("sqlite probe: cannot cut the probe from the inbox log: " +
                                std::string(std::strerror(errno)));
  sizes_[active_] = before;
  return {};
}

std::string SqliteInbox::refusal() const {
  std::lock_guard lock(mutex_);
  return detached_;
}

std::uint64_t SqliteInbox::syncs() const { return syncs_.load(std::memory_order_relaxed); }

bool SqliteInbox::ingestLocked() {
  int old;
  {
    std::lock_guard appending(appendMutex_);  // no append between its write and its publish
    std::lock_guard lock(mutex_);
    if (!detached_.empty()) return false;  // the database is lost: rescueLocked() saves them
    if (open_.messages.empty() && sealed_.messages.empty()) return true;
    sealed_.absorb(std::move(open_));
    // Appends from now on go to the other log; this one will hold nothing the database lacks.
    old = active_;
    active_ ^= 1;
  }
  // sealed_ changes only under ingestMutex_, which we hold: read without mutex_.
  if (StoreStatus s = db_->append(sealed_.messages); !s.ok) {
    std::fprintf(stderr, "sqlite %s: cannot ingest %zu messages from the inbox (kept): %s\n",
                 path_.c_str(), sealed_.messages.size(), s.error.c_str());
    std::lock_guard lock(mutex_);
    ingestError_ = std::move(s.error);
    return false;
  }
  Generation done;
  {
    std::lock_guard lock(mutex_);
    ingestError_.clear();
    done = std::move(sealed_);
    sealed_ = Generation{};
    if (::ftruncate(fds_[old], 0) == 0)
      sizes_[old] = 0;
    else  // harmless: recovery skips what the database has; the next ingest tries again
      std::fprintf(stderr, "sqlite %s: cannot truncate the inbox log: %s\n", path_.c_str(),
                   std::strerror(errno));
  }
  return true;  // `done` is freed here, outside the lock
}

template <typename Visit>
void SqliteInbox::forRoom(std::string_view room, Visit&& visit) const {
  for (const Generation* g : {&sealed_, &open_}) {
    auto it = g->byRoom.find(room);
    if (it == g->byRoom.end()) continue;
    for (std::uint32_t i : it->second) visit(g->messages[i]);
  }
}

void SqliteInbox::collect(std::string_view room, std::uint64_t afterId, std::uint64_t beforeId,
                          std::size_t limit, bool newest, std::vector<StoredMessage>& out) const {
  out.clear();
  if (limit == 0) return;
  std::vector<const StoredMessage*> hits;
  std::lock_guard lock(mutex_);
  forRoom(room, [&](const StoredMessage& m) {
    if (m.id > afterId && (beforeId == 0 || m.id < beforeId)) hits.push_back(&m);
  });
  // Ids ascend through sealed_ and then open_ (both in arrival order, which is id order).
  const std::size_t n = std::min(limit, hits.size());
  const std::size_t from = newest ? hits.size() - n : 0;
  out.reserve(n);
  for (std::size_t i = from; i < from + n; ++i) out.push_back(*hits[i]);
}

std::uint64_t SqliteInbox::lastId(std::string_view room) const {
  std::lock_guard lock(mutex_);
  for (const Generation* g : {&open_, &sealed_}) {  // the newest first; ids ascend in each
    auto it = g->byRoom.find(room);
    if (it != g->byRoom.end()) return g->messages[it->second.back()].id;
  }
  return 0;
}

std::optional<StoredMessage> SqliteInbox::findByClientId(std::string_view room,
                                                         std::string_view username,
                                                         std::string_view clientId,
                                                         std::int64_t notBeforeMillis) const {
  std::optional<StoredMessage> found;
  if (clientId.empty()) return found;
  std::lock_guard lock(mutex_);
  forRoom(room, [&](const StoredMessage& m) {  // the newest match wins, as in the database
    if (m.username == username && m.clientId == clientId && m.unixMillis >= notBeforeMillis)
      found = m;
  });
  return found;
}

void SqliteInbox::rooms(std::vector<RoomSummary>& out) const {
  out.clear();
  std::lock_guard lock(mutex_);
  std::map<std::string_view, RoomSummary> merged;
  for (const Generation* g : {&sealed_, &open_})
    for (const auto& [room, positions] : g->byRoom) {
      const StoredMessage& newest = g->messages[positions.back()];
      RoomSummary& r = merged[room];
      r.lastId = std::max(r.lastId, newest.id);
      r.lastMillis = std::max(r.lastMillis, newest.unixMillis);
    }
  for (auto& [room, r] : merged) {
    r.room = room;
    out.push_back(std::move(r));
  }
}

std::size_t SqliteInbox::waiting() const {
  std::lock_guard lock(mutex_);
  return waitingLocked();
}

StoreBacklog SqliteInbox::backlog() const {
  std::lock_guard lock(mutex_);
  return {waitingLocked(), ingestError_};
}

}  // namespace parley::store
