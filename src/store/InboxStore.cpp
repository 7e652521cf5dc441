#include "store/InboxStore.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "store/SqliteInbox.h"
#include "store/SqliteStore.h"

namespace parley::store {

namespace {

// Adds the inbox's messages (`waiting`, ascending) to the database's (`out`, ascending): the same
// message can be in both while an ingest is finishing. Keeps `limit`: the lowest ids, or the
// highest when `newest`.
void mergeById(std::vector<StoredMessage>& out, std::vector<StoredMessage>&& waiting,
               std::size_t limit, bool newest) {
  if (waiting.empty()) return;
  const std::uint64_t stored = out.empty() ? 0 : out.back().id;
  for (auto& m : waiting)
    if (m.id > stored) out.push_back(std::move(m));
  // The inbox holds each room's newest messages, so its ids beyond the database's come last.
  // Any id it shares with the database was skipped above; what remains is ascending.
  if (out.size() <= limit) return;
  if (newest)
    out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  else
    out.resize(limit);
}

}  // namespace

InboxStore::InboxStore(const std::string& path, FsyncPolicy fsync)
    : db_(std::make_unique<SqliteStore>(path, fsync == FsyncPolicy::Always)),
      inbox_(SqliteInbox::forPath(path, fsync)) {}

InboxStore::~InboxStore() = default;

StoreStatus InboxStore::append(std::span<const StoredMessage> batch) {
  if (batch.empty()) return {};
  if (auto why = validateBatch(batch); !why.empty())
    return StoreStatus::failure("sqlite append: " + why);
  return inbox_->append(batch, {[this](std::string_view room, std::uint64_t& last) {
                                  return db_->lastId(room, last);
                                },
                                [this](const StoredMessage& m) { return db_->holds(m); }});
}

// Every read asks the inbox BEFORE the database: a message leaves the inbox only after the
// database has it, so the two reads together miss nothing.

StoreStatus InboxStore::lastId(std::string_view room, std::uint64_t& out) {
  const std::uint64_t waiting = inbox_->lastId(room);
  StoreStatus st = db_->lastId(room, out);
  out = std::max(out, waiting);
  return st;
}

StoreStatus InboxStore::after(std::string_view room, std::uint64_t afterId, std::size_t limit,
                              std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0 || afterId >= static_cast<std::uint64_t>(kMaxStoredInteger)) return {};
  std::vector<StoredMessage> waiting;
  inbox_->collect(room, afterId, 0, limit, false, waiting);
  StoreStatus st = db_->after(room, afterId, limit, out);
  if (st.ok) mergeById(out, std::move(waiting), limit, false);
  return st;
}

StoreStatus InboxStore::before(std::string_view room, std::uint64_t beforeId, std::size_t limit,
                               std::vector<StoredMessage>& out) {
  out.clear();
  if (limit == 0) return {};
  std::vector<StoredMessage> waiting;
  inbox_->collect(room, 0, beforeId, limit, true, waiting);
  StoreStatus st = db_->before(room, beforeId, limit, out);
  if (st.ok) mergeById(out, std::move(waiting), limit, true);
  return st;
}

StoreStatus InboxStore::findByClientId(std::string_view room, std::string_view username,
                                       std::string_view clientId, std::int64_t notBeforeMillis,
                                       std::optional<StoredMessage>& out) {
  out = inbox_->findByClientId(room, username, clientId, notBeforeMillis);
  if (out) return {};  // newer than anything the database has
  return db_->findByClientId(room, username, clientId, notBeforeMillis, out);
}

StoreStatus InboxStore::rooms(std::size_t limit, std::vector<RoomSummary>& out) {
  out.clear();
  if (limit == 0) return {};
  std::vector<RoomSummary> waiting;
  inbox_->rooms(waiting);
  // Rooms waiting in the inbox may rank above some of the database's top `limit`.
  const std::size_t extra = std::min(waiting.size(), limit);
  const std::size_t wanted =
      limit > std::numeric_limits<std::size_t>::max() - extra ? limit : limit + extra;
  if (StoreStatus st = db_->rooms(wanted, out); !st.ok) return st;
  if (waiting.empty()) return {};
  for (auto& w : waiting) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& r) { return r.room == w.room; });
    if (it == out.end()) {
      out.push_back(std::move(w));
    } else {
      it->lastId = std::max(it->lastId, w.lastId);
      it->lastMillis = std::max(it->lastMillis, w.lastMillis);
    }
  }
  std::sort(out.begin(), out.end(), [](const RoomSummary& a, const RoomSummary& b) {
    return a.lastMillis != b.lastMillis ? a.lastMillis > b.lastMillis : a.room < b.room;
  });
  if (out.size() > limit) out.resize(limit);
  return {};
}

StoreStatus InboxStore::applyChanges(std::span<MessageChange> changes) {
  if (changes.empty()) return {};
  return inbox_->applyChanges(changes);
}
StoreStatus InboxStore::createRoom(const RegisteredRoom& room, bool& created) {
  return db_->createRoom(room, created);
}
StoreStatus InboxStore::putMember(std::string_view room, const RoomGrant& grant) {
  return db_->putMember(room, grant);
}
StoreStatus InboxStore::removeMember(std::string_view room, std::string_view userKey) {
  return db_->removeMember(room, userKey);
}
StoreStatus InboxStore::putBan(std::string_view room, const RoomBan& ban) {
  return db_->putBan(room, ban);
}
StoreStatus InboxStore::removeBan(std::string_view room, std::string_view userKey) {
  return db_->removeBan(room, userKey);
}
StoreStatus InboxStore::loadRooms(std::vector<RegisteredRoom>& out) { return db_->loadRooms(out); }

StoreStatus InboxStore::createAccount(const Account& account, bool& created) {
  return db_->createAccount(account, created);
}

StoreStatus InboxStore::findAccounts(std::string_view key, std::vector<Account>& out) {
  return db_->findAccounts(key, out);
}

StoreStatus InboxStore::accountKeys(std::string_view afterKey, std::size_t limit,
                                    std::vector<std::string>& out) {
  return db_->accountKeys(afterKey, limit, out);
}

StoreStatus InboxStore::pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) {
  inbox_->ingest();
  return db_->pruneKeepLast(keepPerRoom, deleted);
}

StoreStatus InboxStore::pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) {
  inbox_->ingest();
  return db_->pruneOlderThan(cutoffMillis, deleted);
}

StoreStatus InboxStore::probeWrite() { return inbox_->probeWrite(); }

void InboxStore::maintain() {
  if (inbox_->maintain()) db_->maintain();
}

StoreBacklog InboxStore::backlog() const { return inbox_->backlog(); }

std::string InboxStore::refusal() const { return inbox_->refusal(); }

}  // namespace parley::store
