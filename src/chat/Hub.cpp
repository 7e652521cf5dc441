#include "chat/Hub.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <utility>

#include "chat/Names.h"
#include "chat/Protocol.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::chat {

namespace {

ChatMessage view(const store::StoredMessage& m) {
  ChatMessage c;
  c.id = m.id;
  c.room = m.room;
  c.username = m.username;
  c.content = m.content;
  c.clientId = m.clientId;
  c.unixMillis = m.unixMillis;
  return c;
}

std::string messagesArray(const std::vector<store::StoredMessage>& messages, std::size_t from,
                          std::size_t to) {
  std::string out = "[";
  for (std::size_t i = from; i < to; ++i) {
    if (i != from) out.push_back(',');
    appendMessageJson(out, view(messages[i]));
  }
  out.push_back(']');
  return out;
}

std::string idempotencyKey(std::string_view username, std::string_view clientId) {
  std::string key;
  key.reserve(username.size() + 1 + clientId.size());
  key.append(username);
  key.push_back('\n');
  key.append(clientId);
  return key;
}

// A join or leave while it waits for its room's batch: 'j' or 'l', the Unix milliseconds (8
// bytes), the username's length (1 byte: at most 128) and the username.
static_assert(kMaxUsernameChars * 4 <= 255, "a record's username length is one byte");

std::string membershipRecord(bool join, std::int64_t unixMillis, std::string_view username) {
  assert(username.size() <= 255);  // names are checked at the door (chat/Names)
  std::string r(1 + sizeof unixMillis + 1 + username.size(), '\0');
  r[0] = join ? 'j' : 'l';
  std::memcpy(r.data() + 1, &unixMillis, sizeof unixMillis);
  r[1 + sizeof unixMillis] = static_cast<char>(static_cast<std::uint8_t>(username.size()));
  std::memcpy(r.data() + 2 + sizeof unixMillis, username.data(), username.size());
  return r;
}

struct MembershipRecord {
  bool join;
  std::int64_t unixMillis;
  std::string_view username;
  std::size_t next;  // offset of the record after it
};

MembershipRecord readMembershipRecord(std::string_view records, std::size_t at) {
  MembershipRecord r{};
  r.join = records[at] == 'j';
  std::memcpy(&r.unixMillis, records.data() + at + 1, sizeof r.unixMillis);
  const std::size_t len = static_cast<std::uint8_t>(records[at + 1 + sizeof r.unixMillis]);
  r.username = records.substr(at + 2 + sizeof r.unixMillis, len);
  r.next = at + 2 + sizeof r.unixMillis + len;
  return r;
}

// Rooms whose messages one fan-out task handles: with rooms of 10, ~300 writes between reads.
constexpr std::size_t kFanOutChunk = 32;

}  // namespace

struct Hub::StoredBatch {
  store::StoreStatus status;
  std::vector<store::StoredMessage> messages;
  std::shared_ptr<std::vector<Pending>> pending;
};

Hub::Hub(std::size_t shardCount, PostFn post, WakeFn wake, FrameEncoder encode, ClockFn clock,
         ClockFn steadyClock, store::StoreWriter* writer, store::StoreReader* reader,
         HubOptions options)
    : shardCount_(shardCount),
      post_(std::move(post)),
      wake_(std::move(wake)),
      encode_(encode),
      clock_(clock),
      steadyClock_(steadyClock),
      writer_(writer),
      reader_(reader),
      options_(options),
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

void Hub::join(std::size_t shard, const std::string& room, Member* member,
               std::weak_ptr<Member> handle, std::optional<std::uint64_t> since) {
  auto& local = shards_[shard].local[room];
  member->hubSlot_ = static_cast<std::uint32_t>(local.members.size());
  member->batchFrom_ = static_cast<std::uint32_t>(local.batch.size());
  local.members.push_back(member);
  const bool firstHere = local.members.size() == 1;
  const bool readHistory = reader_ && (since || options_.historyOnJoin > 0);
  const std::size_t home = homeShard(room);
  // The catch-up is started from the home shard, after it knows this shard has members: every
  // message committed later is delivered here live, every one committed before is in the read.
  // Duplicates at the seam are dropped by id; no gap is possible.
  onHome(shard, home,
         [this, home, room, shard, firstHere, readHistory, handle, since,
          username = member->username()] {
           Frame presence = memberJoined(home, room, shard, firstHere, username);
           if (readHistory) return startCatchUp(shard, room, handle, since, std::move(presence));
           // Nothing to read: no history could repeat a held frame, so all of them go out.
           post_(shard, [handle, presence = std::move(presence)]() mutable {
             if (auto m = handle.lock()) m->endCatchUp({std::move(presence)}, 0);
           });
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
  members[slot]->hubSlot_ = static_cast<std::uint32_t>(slot);
  members.pop_back();
  const bool lastHere = members.empty();
  if (lastHere) rooms.erase(it);
  const std::size_t home = homeShard(room);
  onHome(shard, home, [this, home, room, shard, lastHere, username = member->username()] {
    memberLeft(home, room, shard, lastHere, username);
  });
}

Frame Hub::memberJoined(std::size_t home, const std::string& room, std::size_t shard,
                        bool firstHere, const std::string& username) {
  auto& state = shards_[home];
  HomeRoom& r = state.home.try_emplace(room).first->second;
  if (r.members++ == 0) roomCount_.fetch_add(1, std::memory_order_relaxed);
  if (firstHere) r.shardsWithMembers |= std::uint64_t{1} << shard;
  {
    std::lock_guard lock(countsMutex_);
    counts_[room] = r.members;
  }
  if (r.presence.addConnection(username)) {
    if (r.presence.summarised(options_.presence)) {
      r.presence.countJoin();
      state.ticking.insert(room);
    } else {
      broadcastMembership(home, room, r, "join", username);
    }
  }
  return encode_(r.presence.presenceJson(options_.presence), 0);
}

void Hub::memberLeft(std::size_t home, const std::string& room, std::size_t shard, bool lastHere,
                     const std::string& username) {
  auto& state = shards_[home];
  auto it = state.home.find(room);
  if (it == state.home.end()) return;
  HomeRoom& r = it->second;
  if (lastHere) r.shardsWithMembers &= ~(std::uint64_t{1} << shard);
  const std::size_t left = --r.members;
  {
    std::lock_guard lock(countsMutex_);
    if (left == 0)
      counts_.erase(room);
    else
      counts_[room] = left;
  }
  const bool wasTyping = r.presence.isTyping(username);
  if (r.presence.removeConnection(username)) {
    if (wasTyping)
      fanOut(home, room, r.shardsWithMembers, encode_(buildTypingJson(username, false), 0));
    if (r.presence.summarised(options_.presence) ||
        r.presence.userCount() >= options_.presence.cap) {
      r.presence.countLeave();
      state.ticking.insert(room);
    } else {
      broadcastMembership(home, room, r, "leave", username);
    }
  }
  if (left == 0) {
    roomCount_.fetch_sub(1, std::memory_order_relaxed);
    // An empty room is forgotten, unless it still remembers recent client ids (a client whose
    // reconnect found the room empty may be retrying) or waits for the store: see removable().
    // (With a store the ids live on in the store; without one, a forgotten room starts over.)
    if (removable(r))
      state.home.erase(it);
    else
      state.ticking.insert(room);
  }
}

void Hub::typing(std::size_t shard, const std::string& room, const std::string& username,
                 bool state) {
  const std::size_t home = homeShard(room);
  onHome(shard, home, [this, home, room, username, state] {
    auto& s = shards_[home];
    auto it = s.home.find(room);
    if (it == s.home.end()) return;
    HomeRoom& r = it->second;
    if (r.presence.setTyping(username, state, clock_(), options_.presence)) {
      broadcastTyping(home, room, r, username, state);
      if (state) s.ticking.insert(room);
    }
  });
}

void Hub::broadcastTyping(std::size_t home, const std::string& room, HomeRoom& r,
                          const std::string& username, bool state) {
  auto frame = std::make_shared<WireFrame>();
  frame->bytes = encode_(buildTypingJson(username, state), 0)->bytes;
  frame->skipUser = username;
  fanOut(home, room, r.shardsWithMembers, frame);
}

void Hub::broadcastMembership(std::size_t home, const std::string& room, HomeRoom& r,
                              const char* type, const std::string& username) {
  toShards(home, r.shardsWithMembers, &Hub::addToBatch, room,
           membershipRecord(type[0] == 'j', clock_(), username));
}

void Hub::tick(std::size_t shard) {
  auto& s = shards_[shard];
  if (s.ticking.empty()) return;
  const std::int64_t now = clock_();
  for (auto it = s.ticking.begin(); it != s.ticking.end();) {
    auto room = s.home.find(*it);
    if (room == s.home.end()) {
      it = s.ticking.erase(it);
      continue;
    }
    HomeRoom& r = room->second;
    if (r.members == 0) {
      forgetExpired(r, now);
      if (removable(r)) {
        s.home.erase(room);
        it = s.ticking.erase(it);
      } else {
        ++it;
      }
      continue;
    }
    for (const auto& user : r.presence.expireTyping(now))
      broadcastTyping(shard, *it, r, user, false);
    // At most one summary per room per tick: a crowd joining at once costs O(members) a tick,
    // not O(members) per join.
    if (r.presence.summaryDue(now))
      fanOut(shard, *it, r.shardsWithMembers, encode_(r.presence.takeSummaryJson(now), 0));
    if (!r.presence.anyTyping() && !r.presence.summaryPending())
      it = s.ticking.erase(it);
    else
      ++it;
  }
}

void Hub::presence(std::size_t shard, const std::string& room,
                   std::function<void(std::vector<std::string>)> done) {
  const std::size_t home = homeShard(room);
  onHome(shard, home, [this, home, shard, room, done = std::move(done)]() mutable {
    auto& rooms = shards_[home].home;
    auto it = rooms.find(room);
    std::vector<std::string> users =
        it == rooms.end() ? std::vector<std::string>{} : it->second.presence.users();
    if (shard == home) return done(std::move(users));
    post_(shard,
          [done = std::move(done), users = std::move(users)]() mutable { done(std::move(users)); });
  });
}

std::vector<std::pair<std::string, std::size_t>> Hub::memberCounts() const {
  std::lock_guard lock(countsMutex_);
  return {counts_.begin(), counts_.end()};
}

void Hub::publish(std::size_t shard, const std::string& room, Publish message) {
  Pending p;
  p.room = room;
  p.username = std::move(message.username);
  p.content = std::move(message.content);
  p.clientId = std::move(message.clientId);
  p.unixMillis = clock_();
  p.originShard = shard;
  p.sender = std::move(message.sender);
  const std::size_t home = homeShard(room);
  if (home == shard) return sequence(home, std::move(p));
  post_(home, [this, home, p = std::move(p)]() mutable { sequence(home, std::move(p)); });
}

void Hub::remember(HomeRoom& r, const std::string& key, Frame frame, std::int64_t now) {
  r.recent[key] = RecentSend{std::move(frame), now};
  r.recentOrder.push_back(key);
  forgetExpired(r, now);
}

void Hub::forgetExpired(HomeRoom& r, std::int64_t now) {
  // Bounded in count and in time; the map entry goes with its own (latest) order entry.
  while (!r.recentOrder.empty()) {
    const std::string& oldest = r.recentOrder.front();
    auto it = r.recent.find(oldest);
    const bool expired =
        it == r.recent.end() || now - it->second.atMs > options_.idempotencyWindowMs;
    if (!expired && r.recentOrder.size() <= options_.idempotencyPerRoom) break;
    if (it != r.recent.end() && (expired || r.recent.size() > options_.idempotencyPerRoom))
      r.recent.erase(it);
    r.recentOrder.pop_front();
  }
}

void Hub::sequence(std::size_t home, Pending p) {
  auto& state = shards_[home];
  auto it = state.home.find(p.room);
  HomeRoom* r = it == state.home.end() ? nullptr : &it->second;

  if (r && r->presence.isTyping(p.username)) {
    // Sending a message ends typing; the others see that before the message itself.
    r->presence.setTyping(p.username, false, p.unixMillis, options_.presence);
    broadcastTyping(home, p.room, *r, p.username, false);
  }

  std::string key;
  if (!p.clientId.empty()) {
    key = idempotencyKey(p.username, p.clientId);
    if (r) {
      auto seen = r->recent.find(key);
      if (seen != r->recent.end() &&
          p.unixMillis - seen->second.atMs <= options_.idempotencyWindowMs) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        // The original goes back to the sender alone; one still on its way to the store will
        // reach it with everyone else.
        if (seen->second.frame) {
          // A copy without the id: the sender's catch-up filter would drop the original if
          // its join history already carried it, and this answer must arrive.
          sendTo(p.originShard, p.sender,
                 std::make_shared<const WireFrame>(WireFrame{seen->second.frame->bytes, 0, {}}));
        }
        return;
      }
      remember(*r, key, nullptr, p.unixMillis);
    }
  }

  if (!writer_) {
    // The sender left with the room's last member before its message got here: no one to tell.
    if (!r) return;
    ChatMessage m;
    m.id = ++r->lastId;
    m.room = p.room;
    m.username = p.username;
    m.content = p.content;
    m.clientId = p.clientId;
    m.unixMillis = p.unixMillis;
    std::string json;
    json.reserve(112 + p.room.size() + p.username.size() + p.content.size());
    appendMessageJson(json, m);
    Frame frame = encode_(json, m.id);
    state.sequenced.fetch_add(1, std::memory_order_relaxed);
    if (!key.empty()) r->recent[key].frame = frame;
    fanOut(home, p.room, r->shardsWithMembers, frame);
    return;
  }

  if (!r) {
    // The sender left with the room's last member. The room is kept until the store answers,
    // so that its inFlight count (what a later join's seam relies on) stays exact.
    r = &state.home.try_emplace(p.room).first->second;
    state.ticking.insert(p.room);
  }
  ++r->inFlight;
  state.toStore.push_back(std::move(p));
  if (!state.storeFlushPosted) {
    state.storeFlushPosted = true;
    // Everything sequenced during this loop turn goes to the store as one batch.
    post_(home, [this, home] { flushToStore(home); });
  }
}

void Hub::flushToStore(std::size_t home) {
  auto& state = shards_[home];
  state.storeFlushPosted = false;
  if (state.toStore.empty()) return;  // already flushed ahead of a catch-up marker
  auto pending = std::make_shared<std::vector<Pending>>(std::move(state.toStore));
  state.toStore.clear();
  std::vector<store::StoredMessage> messages(pending->size());
  for (std::size_t i = 0; i < pending->size(); ++i) {
    Pending& p = (*pending)[i];
    store::StoredMessage& m = messages[i];
    m.room = p.room;
    m.username = std::move(p.username);
    m.content = std::move(p.content);
    m.clientId = p.clientId;
    m.unixMillis = p.unixMillis;
  }
  writer_->submit(
      std::move(messages), [this, home, pending](const store::StoreStatus& status,
                                                 std::vector<store::StoredMessage>&& stored) {
        auto batch = std::make_shared<StoredBatch>(StoredBatch{status, std::move(stored), pending});
        post_(home, [this, home, batch = std::move(batch)]() mutable {
          auto& state = shards_[home];
          state.stored.push_back(std::move(batch));
          if (!state.storedDrainPosted) drainStored(home);
        });
      });
}

void Hub::drainStored(std::size_t home) {
  auto& state = shards_[home];
  state.storedDrainPosted = false;
  // A chunk ends at its kFanOutChunk-th distinct room, not message: frames for rooms already in
  // the chunk go to connections that are already waiting for this turn's write, so a busy
  // room's messages still leave many per write (corking), while messages spread over many
  // rooms (one write per delivery regardless) leave in smaller, smoother turns.
  std::string_view rooms[kFanOutChunk];  // into messages of `done` or of stored.front()
  std::size_t roomCount = 0;
  std::vector<std::shared_ptr<StoredBatch>> done;  // kept while `rooms` may point into them
  while (!state.stored.empty()) {
    StoredBatch& b = *state.stored.front();
    if (b.messages.empty()) {
      state.stored.pop_front();
      continue;
    }
    const std::size_t i = state.storedNext;
    const std::string_view room = b.messages[i].room;
    if (std::find(rooms, rooms + roomCount, room) == rooms + roomCount) {
      if (roomCount == kFanOutChunk) break;
      rooms[roomCount++] = room;
    }
    if (++state.storedNext == b.messages.size()) state.storedNext = 0;
    if (state.storedNext == 0) {
      done.push_back(std::move(state.stored.front()));
      state.stored.pop_front();
    }
    onStored(home, b.status, b.messages[i], (*b.pending)[i]);
  }
  if (state.stored.empty()) return;
  // The rest after what is ready now (reads, the flush of these frames): in order, since
  // later commits queue behind in `stored`.
  state.storedDrainPosted = true;
  post_(home, [this, home] { drainStored(home); });
}

void Hub::onStored(std::size_t home, const store::StoreStatus& status,
                   const store::StoredMessage& m, Pending& p) {
  auto& state = shards_[home];
  auto it = state.home.find(m.room);
  HomeRoom* r = it == state.home.end() ? nullptr : &it->second;
  if (r) {
    --r->inFlight;  // sequence() kept the room for this message
    if (status.ok)
      r->durableLastId = std::max(r->durableLastId, m.id);
    else
      r->durableKnown = false;  // the store may know better (an in-doubt commit): ask it
    if (r->members == 0) state.ticking.insert(m.room);
  }
  const std::string key =
      m.clientId.empty() ? std::string() : idempotencyKey(m.username, m.clientId);
  if (!status.ok) {
    storeRefusals_.fetch_add(1, std::memory_order_relaxed);
    if (r && !key.empty()) r->recent.erase(key);  // a retry must be able to go through
    sendTo(p.originShard, p.sender,
           encode_(buildErrorJson("store_unavailable",
                                  "the message could not be stored and was not delivered; "
                                  "send it again",
                                  m.clientId),
                   0));
    return;
  }
  state.sequenced.fetch_add(1, std::memory_order_relaxed);
  if (!r) return;  // stored; nobody is left in the room to deliver it to
  std::string json;
  json.reserve(112 + m.room.size() + m.username.size() + m.content.size());
  appendMessageJson(json, view(m));
  Frame frame = encode_(json, m.id);
  if (!key.empty()) {
    auto seen = r->recent.find(key);
    if (seen != r->recent.end()) seen->second.frame = frame;
  }
  fanOut(home, m.room, r->shardsWithMembers, frame);
}

template <typename What>
void Hub::toShards(std::size_t home, std::uint64_t shardMask,
                   void (Hub::*deliver)(std::size_t, const std::string&, const What&),
                   const std::string& room, const What& what) {
  for (std::uint64_t mask = shardMask; mask != 0; mask &= mask - 1) {
    const auto shard = static_cast<std::size_t>(__builtin_ctzll(mask));
    if (shard == home)
      (this->*deliver)(shard, room, what);
    else
      post_(shard, [this, deliver, shard, room, what] { (this->*deliver)(shard, room, what); });
  }
}

void Hub::fanOut(std::size_t home, const std::string& room, std::uint64_t shardMask,
                 const Frame& frame) {
  toShards(home, shardMask, &Hub::deliverLocal, room, frame);
}

void Hub::deliverLocal(std::size_t shard, const std::string& room, const Frame& frame) {
  auto& rooms = shards_[shard].local;
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  LocalRoom& local = it->second;
  // Whatever happened in the room before this frame reaches its members before it.
  if (!local.batch.empty()) sendBatch(local, steadyClock_());
  if (frame->skipUser.empty()) {
    for (Member* m : local.members) m->deliver(frame);
    return;
  }
  for (Member* m : local.members)
    if (m->username() != frame->skipUser) m->deliver(frame);
}

// join/leave frames wait per room, not per member: the room's members all get one write when
// the batch leaves, and while it waits the room holds each event once (a member holds nothing).
void Hub::addToBatch(std::size_t shard, const std::string& room, const std::string& record) {
  auto& s = shards_[shard];
  auto it = s.local.find(room);
  if (it == s.local.end()) return;
  LocalRoom& local = it->second;
  const std::int64_t now = steadyClock_();
  // A room whose membership changed within the last second is busy (a crowd arriving or
  // leaving): its members get one batch a second. A lone change shows within kBatchMs.
  const bool busy = (local.lastBatchMs != 0 && now - local.lastBatchMs < kBatchRepeatMs) ||
                    (local.lastEventMs != 0 && now - local.lastEventMs < kBatchRepeatMs);
  local.lastEventMs = now;
  const std::size_t before = local.batch.size();
  local.batch.append(record);
  // Newcomers still catching up take it now: it leaves with their history (a joiner's own
  // join among them), no write of its own. They are at the end of the list, but for the rare
  // one a leave moved forward (it simply gets its part with the batch).
  Frame single;
  auto m = local.members.rbegin();
  for (; m != local.members.rend() && (*m)->catchingUp(); ++m) {
    const std::size_t from =
        std::exchange((*m)->batchFrom_, static_cast<std::uint32_t>(local.batch.size()));
    if (from < before) {
      (*m)->deliver(std::make_shared<const WireFrame>(
          WireFrame{batchWire(std::string_view(local.batch).substr(from), nullptr), 0, {}}));
      continue;
    }
    if (!single)
      single = std::make_shared<const WireFrame>(WireFrame{batchWire(record, nullptr), 0, {}});
    (*m)->deliver(single);
  }
  if (m == local.members.rend()) {
    // Every member has all of it already: nothing waits (a stale timer entry finds no batch).
    local.batch = std::string();
    local.batchDueMs = 0;
    for (Member* member : local.members) member->batchFrom_ = 0;
    return;
  }
  if (local.batch.size() >= kBatchMaxBytes) return sendBatch(local, now);
  if (before != 0) return;  // the batch had begun: its time is set
  local.batchDueMs = now + (busy ? kBatchRepeatMs : kBatchMs);
  (busy ? s.batchRepeat : s.batchSoon).push_back({local.batchDueMs, room});
  if (s.wakeMs == 0 || local.batchDueMs < s.wakeMs) askWake(shard);
}

std::string Hub::batchWire(std::string_view records,
                           std::vector<std::pair<std::uint32_t, std::uint32_t>>* marks) const {
  std::string wire;
  wire.reserve(records.size() * 4);
  for (std::size_t at = 0; at < records.size();) {
    const MembershipRecord r = readMembershipRecord(records, at);
    if (marks)
      marks->emplace_back(static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(wire.size()));
    wire.append(encode_(buildMembershipJson(r.join ? "join" : "leave", r.username, r.unixMillis), 0)
                    ->bytes);
    at = r.next;
  }
  return wire;
}

void Hub::sendBatch(LocalRoom& local, std::int64_t nowMs) {
  // Frames of up to kBatchChunkRecords changes each, shared by every member: a member added
  // while the batch filled copies at most the chunk its part starts in (a crowd of hundreds
  // joining would otherwise cost a copy of most of the batch per member).
  struct Mark {
    std::uint32_t record;  // offset in local.batch
    std::uint32_t chunk;
    std::uint32_t wire;  // offset in that chunk's frame
  };
  std::vector<Frame> chunks;
  std::vector<Mark> marks;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> chunkMarks;
  const std::string_view records = local.batch;
  for (std::size_t at = 0; at < records.size();) {
    std::size_t end = at;
    for (std::size_t k = 0; k < kBatchChunkRecords && end < records.size(); ++k)
      end = readMembershipRecord(records, end).next;
    chunkMarks.clear();
    chunks.push_back(std::make_shared<const WireFrame>(
        WireFrame{batchWire(records.substr(at, end - at), &chunkMarks), 0, {}}));
    for (const auto& [record, wire] : chunkMarks)
      marks.push_back({static_cast<std::uint32_t>(at + record),
                       static_cast<std::uint32_t>(chunks.size() - 1), wire});
    at = end;
  }
  local.batch = std::string();
  local.batchDueMs = 0;
  local.lastBatchMs = nowMs;
  for (Member* m : local.members) {
    const std::uint32_t from = std::exchange(m->batchFrom_, 0);
    auto mark = std::lower_bound(marks.begin(), marks.end(), from,
                                 [](const Mark& x, std::uint32_t r) { return x.record < r; });
    if (mark == marks.end()) continue;  // nothing arrived after it was added
    std::size_t c = mark->chunk;
    if (mark->wire != 0)  // its part starts inside a chunk: a copy of that chunk's rest
      m->deliver(std::make_shared<const WireFrame>(
          WireFrame{chunks[c++]->bytes.substr(mark->wire), 0, {}}));
    for (; c < chunks.size(); ++c) m->deliver(chunks[c]);
  }
}

void Hub::flushBatches(std::size_t shard, std::int64_t nowMs) {
  auto& s = shards_[shard];
  s.wakeMs = 0;
  // With some slack, so a crowd's batches leave together a few dozen times a second.
  const std::int64_t until = nowMs + kBatchSlackMs;
  std::size_t sent = 0;
  for (auto* list : {&s.batchSoon, &s.batchRepeat}) {
    while (!list->empty() && list->front().dueMs <= until) {
      if (sent == kBatchesPerTurn) {
        // The rest after these have been written: a crowd's batches (and the copies of them
        // made for late joiners) are not all in memory at once.
        post_(shard, [this, shard, nowMs] { flushBatches(shard, nowMs); });
        return;
      }
      const BatchDue due = std::move(list->front());
      list->pop_front();
      auto it = s.local.find(due.room);
      if (it != s.local.end() && it->second.batchDueMs == due.dueMs && !it->second.batch.empty()) {
        sendBatch(it->second, nowMs);
        ++sent;
      }
    }
  }
  askWake(shard);
}

void Hub::askWake(std::size_t shard) {
  auto& s = shards_[shard];
  std::int64_t due = 0;
  if (!s.batchSoon.empty()) due = s.batchSoon.front().dueMs;
  if (!s.batchRepeat.empty() && (due == 0 || s.batchRepeat.front().dueMs < due))
    due = s.batchRepeat.front().dueMs;
  if (due == 0 || due == s.wakeMs) return;
  s.wakeMs = due;
  wake_(shard, due);
}

void Hub::sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame) {
  post_(shard, [member = std::move(member), frame = std::move(frame)] {
    if (auto m = member.lock()) m->deliver(frame);
  });
}

void Hub::failCatchUp(std::size_t shard, const std::weak_ptr<Member>& handle,
                      std::optional<std::uint64_t> since, const Frame& presence, std::string why) {
  std::vector<Frame> frames{encode_(buildErrorJson("history_unavailable", why), 0), presence};
  post_(shard, [handle, frames = std::move(frames), since]() mutable {
    if (auto m = handle.lock()) m->endCatchUp(std::move(frames), since.value_or(0));
  });
}

void Hub::startCatchUp(std::size_t shard, const std::string& room, std::weak_ptr<Member> handle,
                       std::optional<std::uint64_t> since, Frame presence) {
  // The seam is the room's last id among everything this home shard sequenced before the
  // member was registered: those messages are in the read, all later ones arrive live. When
  // none of the room's messages is on its way to the store, the home shard knows that id
  // itself; otherwise a marker in the writer's queue yields it once it is durable.
  const std::size_t home = homeShard(room);
  auto& state = shards_[home];
  HomeRoom& r = state.home.try_emplace(room).first->second;  // memberJoined() made it
  if (r.durableKnown && r.inFlight == 0)
    return catchUpTo(shard, room, std::move(handle), since, std::move(presence), r.durableLastId);
  if (!state.toStore.empty()) flushToStore(home);
  ++r.markers;
  catchUpMarkers_.fetch_add(1, std::memory_order_relaxed);
  writer_->submitMarker(room, [this, home, shard, room, handle, since, presence](
                                  const store::StoreStatus& status, std::uint64_t bound) {
    post_(home, [this, home, shard, room, handle, since, presence, ok = status.ok,
                 error = status.error, bound] {
      auto& st = shards_[home];
      HomeRoom& r = st.home.try_emplace(room).first->second;  // kept while markers > 0
      --r.markers;
      if (r.members == 0) st.ticking.insert(room);
      if (!ok)
        return failCatchUp(shard, handle, since, presence, "history could not be read: " + error);
      // Messages handed to the store after the marker come back after this answer and raise
      // durableLastId further; until they have, inFlight keeps the next join on a marker.
      r.durableLastId = std::max(r.durableLastId, bound);
      r.durableKnown = true;
      catchUpTo(shard, room, handle, since, presence, bound);
    });
  });
}

void Hub::catchUpTo(std::size_t shard, const std::string& room, std::weak_ptr<Member> handle,
                    std::optional<std::uint64_t> since, Frame presence, std::uint64_t bound) {
  const std::uint64_t covered = std::max(since.value_or(0), bound);
  if (bound == 0 || (since && *since >= bound)) {
    // Nothing at or below the seam to send: the same frames a read of nothing would give.
    std::vector<Frame> frames{
        encode_(buildHistoryJson("[]", since && *since > 0 && bound > 0, 0), 0), presence};
    post_(shard, [handle, frames = std::move(frames), covered]() mutable {
      if (auto m = handle.lock()) m->endCatchUp(std::move(frames), covered);
    });
    return;
  }
  catchUpReads_.fetch_add(1, std::memory_order_relaxed);
  auto job = [this, shard, room, handle, since, bound, covered,
              presence](store::MessageStore& store) {
    std::vector<store::StoredMessage> messages;
    std::vector<Frame> frames;
    store::StoreStatus st;
    if (since) {
      if (bound - *since > options_.maxReplay) {
        // Too far behind: the newest max-replay messages, and a word that older ones exist.
        st = store.before(room, bound + 1, options_.maxReplay, messages);
        if (st.ok && !messages.empty())
          frames.push_back(encode_(buildResumeTruncatedJson(*since, messages.front().id), 0));
      } else {
        st = store.after(room, *since, bound - *since, messages);
      }
      while (!messages.empty() && messages.back().id > bound) messages.pop_back();
      for (std::size_t i = 0; st.ok && i < messages.size(); i += options_.replayPage) {
        const std::size_t end = std::min(messages.size(), i + options_.replayPage);
        frames.push_back(
            encode_(buildHistoryJson(messagesArray(messages, i, end), messages[i].id > 1, 0), 0));
      }
      if (st.ok && messages.empty())
        frames.push_back(encode_(buildHistoryJson("[]", *since > 0, 0), 0));
    } else {
      const std::size_t n = options_.historyOnJoin;
      st = store.before(room, bound + 1, n + 1, messages);
      const bool hasMore = messages.size() > n;
      if (hasMore) messages.erase(messages.begin());
      if (st.ok)
        frames.push_back(
            encode_(buildHistoryJson(messagesArray(messages, 0, messages.size()), hasMore, 0), 0));
    }
    if (!st.ok)
      return failCatchUp(shard, handle, since, presence, "history could not be read: " + st.error);
    frames.push_back(presence);
    post_(shard, [handle, frames = std::move(frames), covered]() mutable {
      if (auto m = handle.lock()) m->endCatchUp(std::move(frames), covered);
    });
  };
  if (!reader_->submit(std::move(job)))
    failCatchUp(shard, handle, since, presence, "the server is too busy to read history");
}

void Hub::history(std::size_t shard, const std::string& room, std::uint64_t before,
                  std::size_t limit, std::function<void(HistoryPage)> done) {
  if (!reader_) {
    HistoryPage page;
    page.json = "[]";
    done(std::move(page));
    return;
  }
  auto job = [this, shard, room, before, limit, done](store::MessageStore& store) {
    std::vector<store::StoredMessage> messages;
    HistoryPage page;
    store::StoreStatus status = store.before(room, before, limit + 1, messages);
    if (!status.ok) {
      page.ok = false;
      page.error = status.error;
    } else {
      page.hasMore = messages.size() > limit;
      const std::size_t from = page.hasMore ? 1 : 0;
      page.json = messagesArray(messages, from, messages.size());
    }
    post_(shard, [done, page = std::move(page)]() mutable { done(std::move(page)); });
  };
  if (!reader_->submit(std::move(job))) {
    HistoryPage page;
    page.ok = false;
    page.error = "the server is too busy to read history";
    done(std::move(page));
  }
}

}  // namespace parley::chat

namespace parley::chat {

void Hub::listRooms(std::size_t shard, std::size_t limit,
                    std::function<void(bool ok, std::vector<RoomInfo>)> done) {
  auto merge = [](std::vector<std::pair<std::string, std::size_t>> counts,
                  const std::vector<store::RoomSummary>& stored) {
    std::vector<RoomInfo> rooms;
    std::unordered_map<std::string, std::size_t> members(counts.begin(), counts.end());
    for (const auto& s : stored) {
      auto it = members.find(s.room);
      rooms.push_back({s.room, it == members.end() ? 0 : it->second, s.lastId});
      if (it != members.end()) members.erase(it);
    }
    for (auto& [room, n] : members) rooms.push_back({room, n, 0});
    return rooms;
  };
  if (!reader_) {
    done(true, merge(memberCounts(), {}));
    return;
  }
  auto job = [this, shard, limit, done, merge](store::MessageStore& store) {
    std::vector<store::RoomSummary> stored;
    const bool ok = store.rooms(limit, stored).ok;
    auto rooms = merge(memberCounts(), stored);
    post_(shard, [done, ok, rooms = std::move(rooms)]() mutable { done(ok, std::move(rooms)); });
  };
  if (!reader_->submit(std::move(job))) done(false, {});
}

}  // namespace parley::chat
