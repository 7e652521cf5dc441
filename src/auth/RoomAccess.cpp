#include "auth/RoomAccess.h"

#include <sodium.h>

#include <mutex>

#include "store/AccountStore.h"

namespace parley::auth {

std::string RoomAccess::directRoomName(std::string_view keyA, std::string_view keyB) {
  if (keyB < keyA) std::swap(keyA, keyB);
  // A NUL between the keys: no pair of keys (which hold no NUL) makes another pair's input.
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(keyA.data()),
                            keyA.size());
  const unsigned char zero = 0;
  crypto_hash_sha256_update(&state, &zero, 1);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(keyB.data()),
                            keyB.size());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name(kDirectPrefix);
  for (int i = 0; i < 16; ++i) {
    name.push_back(kHex[digest[i] >> 4]);
    name.push_back(kHex[digest[i] & 15]);
  }
  return name;
}

RoomVerdict RoomAccess::admit(std::string_view room, std::string_view username) const {
  if (count_.load(std::memory_order_acquire) == 0)
    return isDirectName(room) ? RoomVerdict::NotMember : RoomVerdict::Allowed;
  std::shared_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return isDirectName(room) ? RoomVerdict::NotMember : RoomVerdict::Allowed;
  const Entry& e = it->second;
  if (e.bans.empty() && !e.isPrivate) return RoomVerdict::Allowed;
  const std::string key = store::accountKey(username);
  if (e.bans.contains(key)) return RoomVerdict::Banned;
  if (e.isPrivate && !e.members.contains(key)) return RoomVerdict::NotMember;
  return RoomVerdict::Allowed;
}

std::optional<store::RegisteredRoom> RoomAccess::find(std::string_view room) const {
  std::shared_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::nullopt;
  store::RegisteredRoom r;
  r.room = it->first;
  r.isPrivate = it->second.isPrivate;
  r.direct = it->second.direct;
  r.createdMillis = it->second.createdMillis;
  for (const auto& [key, grant] : it->second.members) r.members.push_back(grant);
  for (const auto& [key, ban] : it->second.bans) r.bans.push_back(ban);
  return r;
}

std::optional<store::RoomRole> RoomAccess::roleOf(std::string_view room,
                                                  std::string_view username) const {
  if (count_.load(std::memory_order_acquire) == 0) return std::nullopt;
  const std::string key = store::accountKey(username);
  std::shared_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::nullopt;
  const auto m = it->second.members.find(key);
  if (m == it->second.members.end()) return std::nullopt;
  return m->second.role;
}

std::vector<std::string> RoomAccess::privateRoomsOf(std::string_view username) const {
  std::vector<std::string> out;
  if (count_.load(std::memory_order_acquire) == 0) return out;
  const std::string key = store::accountKey(username);
  std::shared_lock lock(mutex_);
  if (auto it = memberOf_.find(key); it != memberOf_.end())
    out.assign(it->second.begin(), it->second.end());
  return out;
}

bool RoomAccess::isPrivate(std::string_view room) const {
  if (count_.load(std::memory_order_acquire) == 0) return false;
  std::shared_lock lock(mutex_);
  const auto it = rooms_.find(room);
  return it != rooms_.end() && it->second.isPrivate;
}

void RoomAccess::indexMember(const std::string& room, const Entry& e, const std::string& userKey) {
  if (e.isPrivate) memberOf_[userKey].insert(room);
}

void RoomAccess::unindexMember(std::string_view room, std::string_view userKey) {
  const auto it = memberOf_.find(userKey);
  if (it == memberOf_.end()) return;
  if (auto r = it->second.find(room); r != it->second.end()) it->second.erase(r);
  if (it->second.empty()) memberOf_.erase(it);
}

void RoomAccess::load(std::vector<store::RegisteredRoom> rooms) {
  std::unique_lock lock(mutex_);
  rooms_.clear();
  memberOf_.clear();
  for (store::RegisteredRoom& r : rooms) {
    Entry& e = rooms_[r.room];
    e.isPrivate = r.isPrivate;
    e.direct = r.direct;
    e.createdMillis = r.createdMillis;
    for (store::RoomGrant& g : r.members) {
      indexMember(r.room, e, g.userKey);
      std::string key = g.userKey;
      e.members.insert_or_assign(std::move(key), std::move(g));
    }
    for (store::RoomBan& b : r.bans) {
      std::string key = b.userKey;
      e.bans.insert_or_assign(std::move(key), std::move(b));
    }
  }
  count_.store(rooms_.size(), std::memory_order_release);
}

void RoomAccess::putRoom(store::RegisteredRoom room) {
  std::unique_lock lock(mutex_);
  Entry& e = rooms_[room.room];
  e.isPrivate = room.isPrivate;
  e.direct = room.direct;
  e.createdMillis = room.createdMillis;
  for (store::RoomGrant& g : room.members) {
    indexMember(room.room, e, g.userKey);
    std::string key = g.userKey;
    e.members.insert_or_assign(std::move(key), std::move(g));
  }
  count_.store(rooms_.size(), std::memory_order_release);
}

void RoomAccess::putMember(std::string_view room, store::RoomGrant grant) {
  std::unique_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  indexMember(it->first, it->second, grant.userKey);
  std::string key = grant.userKey;
  it->second.members.insert_or_assign(std::move(key), std::move(grant));
}

void RoomAccess::removeMember(std::string_view room, std::string_view userKey) {
  std::unique_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  if (auto m = it->second.members.find(userKey); m != it->second.members.end())
    it->second.members.erase(m);
  unindexMember(room, userKey);
}

void RoomAccess::putBan(std::string_view room, store::RoomBan ban) {
  std::unique_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  if (auto m = it->second.members.find(ban.userKey); m != it->second.members.end())
    it->second.members.erase(m);
  unindexMember(room, ban.userKey);
  std::string key = ban.userKey;
  it->second.bans.insert_or_assign(std::move(key), std::move(ban));
}

void RoomAccess::removeBan(std::string_view room, std::string_view userKey) {
  std::unique_lock lock(mutex_);
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  if (auto b = it->second.bans.find(userKey); b != it->second.bans.end()) it->second.bans.erase(b);
}

}  // namespace parley::auth
