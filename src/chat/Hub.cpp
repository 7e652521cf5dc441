#include "chat/Hub.h"

#include <cassert>

#include "chat/Protocol.h"

namespace parley::chat {

Hub::Hub(std::size_t shardCount, PostFn post, FrameEncoder encode, ClockFn clock)
    : shardCount_(shardCount),
      post_(std::move(post)),
      encode_(encode),
      clock_(clock),
      shards_(std::make_unique<ShardState[]>(shardCount)) {
  assert(shardCount >= 1 && shardCount <= 64);
}

Hub::~Hub() = default;

std::size_t Hub::homeShard(std::string_view room) const {
  return std::hash<std::string_view>{}(room) % shardCount_;
}

std::uint64_t Hub::messagesSequenced() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < shardCount_; ++i)
    n += shards_[i].sequenced.load(std::memory_order_relaxed);
  return n;
}

// Work for a room's home shard runs inline when the caller is already there: with one shard
// (or a room whose members share its home) a message never crosses a thread.
void Hub::onHome(std::size_t from, std::size_t home, std::function<void()> task) {
  if (from == home)
    task();
  else
    post_(home, std::move(task));
}

void Hub::join(std::size_t shard, const std::string& room, Member* member) {
  auto& local = shards_[shard].local[room];
  member->hubSlot_ = local.members.size();
  local.members.push_back(member);
  if (local.members.size() == 1)
    onHome(shard, homeShard(room), [this, home = homeShard(room), room, shard] {
      setShardMembership(home, room, shard, true);
    });
}

void Hub::leave(std::size_t shard, const std::string& room, Member* member) {
  auto& rooms = shards_[shard].local;
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  auto& members = it->second.members;
  const std::size_t slot = member->hubSlot_;
  if (slot >= members.size() || members[slot] != member) return;
  members[slot] = members.back();
  members[slot]->hubSlot_ = slot;
  members.pop_back();
  if (members.empty()) {
    rooms.erase(it);
    onHome(shard, homeShard(room), [this, home = homeShard(room), room, shard] {
      setShardMembership(home, room, shard, false);
    });
  }
}

void Hub::setShardMembership(std::size_t home, const std::string& room, std::size_t shard,
                             bool hasMembers) {
  auto& rooms = shards_[home].home;
  const std::uint64_t bit = std::uint64_t{1} << shard;
  if (hasMembers) {
    auto [it, created] = rooms.try_emplace(room);
    if (created) roomCount_.fetch_add(1, std::memory_order_relaxed);
    it->second.shardsWithMembers |= bit;
    return;
  }
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  it->second.shardsWithMembers &= ~bit;
  // Until history is durable, a room nobody is in is forgotten, and its ids start over.
  if (it->second.shardsWithMembers == 0) {
    rooms.erase(it);
    roomCount_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Hub::publish(std::size_t shard, const std::string& room, std::string username,
                  std::string content) {
  const std::size_t home = homeShard(room);
  if (home == shard) {
    sequence(home, room, username, content);
    return;
  }
  post_(home, [this, home, room, username = std::move(username), content = std::move(content)] {
    sequence(home, room, username, content);
  });
}

void Hub::sequence(std::size_t home, const std::string& room, const std::string& username,
                   const std::string& content) {
  auto& state = shards_[home];
  auto it = state.home.find(room);
  // The sender left (and with it the room's last member) before its message got here.
  if (it == state.home.end()) return;
  HomeRoom& r = it->second;

  ChatMessage m;
  m.id = ++r.lastId;
  m.room = room;
  m.username = username;
  m.content = content;
  m.unixMillis = clock_();
  std::string json;
  json.reserve(96 + room.size() + username.size() + content.size());
  appendMessageJson(json, m);
  Frame frame = encode_(json);
  state.sequenced.fetch_add(1, std::memory_order_relaxed);

  // Posts leave in id order on each home->shard queue, so every shard sees the room's order.
  for (std::uint64_t mask = r.shardsWithMembers; mask != 0; mask &= mask - 1) {
    const auto shard = static_cast<std::size_t>(__builtin_ctzll(mask));
    if (shard == home)
      deliverLocal(shard, room, frame);
    else
      post_(shard, [this, shard, room, frame] { deliverLocal(shard, room, frame); });
  }
}

void Hub::deliverLocal(std::size_t shard, const std::string& room, const Frame& frame) {
  auto& rooms = shards_[shard].local;
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  for (Member* m : it->second.members) m->deliver(frame);
}

}  // namespace parley::chat
