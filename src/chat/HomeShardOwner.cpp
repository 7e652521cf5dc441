#include "chat/HomeShardOwner.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "auth/RoomAccess.h"
#include "chat/HistoryJson.h"
#include "chat/HubEnvironment.h"
#include "chat/Protocol.h"
#include "store/StoreWriter.h"

namespace parley::chat {

namespace {

// Rooms whose messages one fan-out task handles: with rooms of 10, ~300 writes between reads.
constexpr std::size_t kFanOutChunk = 32;

}  // namespace

struct HomeShardOwner::StoredBatch {
  store::StoreStatus status;
  std::vector<store::StoredMessage> messages;
  std::shared_ptr<std::vector<Pending>> pending;
  // Or, instead of messages, one edit or delete (it keeps its place among the room's commits):
  std::vector<store::MessageChange> changes;
  std::size_t changeShard = 0;
  EditDone changeDone;
};

HomeShardOwner::HomeShardOwner(const HubEnvironment& env, RoomRegistry& registry,
                               const ModerationPolicy& moderation)
    : env_(env),
      moderation_(moderation),
      rememberingSinceMs_(env.unixClock()),
      registry_(registry),
      shards_(std::make_unique<ShardState[]>(env.shardCount)) {}

HomeShardOwner::~HomeShardOwner() = default;

OwnerCounts HomeShardOwner::counts() const {
  OwnerCounts c;
  for (std::size_t i = 0; i < env_.shardCount; ++i) {
    c.rooms += shards_[i].roomsWithMembers.load(std::memory_order_relaxed);
    c.sequenced += shards_[i].sequenced.load(std::memory_order_relaxed);
  }
  c.storeRefusals = storeRefusals_.load(std::memory_order_relaxed);
  c.duplicates = duplicates_.load(std::memory_order_relaxed);
  c.seamsFromStore = seamsFromStore_.load(std::memory_order_relaxed);
  return c;
}

template <typename Task>
void HomeShardOwner::onHome(std::size_t from, std::size_t home, Task&& task) {
  if (from == home)
    task();
  else
    env_.post(home, std::function<void()>(std::forward<Task>(task)));
}

void HomeShardOwner::answer(std::size_t shard, JoinDone done, JoinAnswer answer) {
  env_.post(shard, [done = std::move(done), answer = std::move(answer)]() mutable {
    done(std::move(answer));
  });
}

void HomeShardOwner::sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame) {
  env_.post(shard, [member = std::move(member), frame = std::move(frame)] {
    if (auto m = member.lock()) m->deliver(frame);
  });
}

void HomeShardOwner::answerPublish(std::size_t shard, PublishDone done, PublishResult result) {
  if (!done) return;
  env_.post(shard, [done = std::move(done), result] { done(result); });
}

void HomeShardOwner::answerAwaiting(HomeRoom* r, const std::string& key, PublishResult result) {
  if (!r || key.empty() || r->awaitingOriginal.empty()) return;
  std::erase_if(r->awaitingOriginal, [&](auto& waiting) {
    if (waiting.first != key) return false;
    // Every retry is a duplicate of the original; a refused original refuses its retries too.
    PublishResult answer = result;
    if (answer.outcome == PublishResult::Outcome::Stored)
      answer.outcome = PublishResult::Outcome::Duplicate;
    // The API answers on the shard that asked, which this done's own closure posts to.
    waiting.second(answer);
    return true;
  });
}

// ---- membership, presence, typing --------------------------------------------------------

void HomeShardOwner::join(std::size_t shard, const std::string& room, const std::string& username,
                          bool firstHere, bool wantSeam, JoinDone done) {
  const std::size_t home = env_.homeShard(room);
  onHome(
      shard, home,
      [this, home, shard, room, username, firstHere, wantSeam, done = std::move(done)]() mutable {
        Frame presence = memberJoined(home, room, shard, firstHere, username);
        // The seam is taken after the shard was added to the room's mask (promise 5).
        if (wantSeam) return answerSeam(home, room, shard, std::move(presence), std::move(done));
        answer(shard, std::move(done), JoinAnswer{std::move(presence), 0, {}});
      });
}

void HomeShardOwner::leave(std::size_t shard, const std::string& room, const std::string& username,
                           bool lastHere) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, room, shard, lastHere, username] {
    memberLeft(home, room, shard, lastHere, username);
  });
}

Frame HomeShardOwner::memberJoined(std::size_t home, const std::string& room, std::size_t shard,
                                   bool firstHere, const std::string& username) {
  auto& state = shards_[home];
  HomeRoom& r = state.rooms.try_emplace(room).first->second;
  if (r.members++ == 0) state.roomsWithMembers.fetch_add(1, std::memory_order_relaxed);
  if (firstHere) r.shards.add(shard);
  if (r.presence.addConnection(username)) {
    if (r.presence.summarised(env_.options.presence)) {
      r.presence.countJoin();
      state.ticking.insert(room);
    } else {
      broadcastMembership(home, room, r, Membership::Join, username);
    }
  }
  return env_.encode(r.presence.presenceJson(room, env_.options.presence), 0);
}

void HomeShardOwner::memberLeft(std::size_t home, const std::string& room, std::size_t shard,
                                bool lastHere, const std::string& username) {
  auto& state = shards_[home];
  auto it = state.rooms.find(room);
  if (it == state.rooms.end()) return;
  HomeRoom& r = it->second;
  if (lastHere) r.shards.remove(shard);
  const std::size_t left = --r.members;
  const bool wasTyping = r.presence.isTyping(username);
  if (r.presence.removeConnection(username)) {
    if (wasTyping)
      registry_.fanOut(home, room, r.shards,
                       env_.encode(buildTypingJson(username, false, room), 0));
    if (r.presence.summarised(env_.options.presence) ||
        r.presence.userCount() >= env_.options.presence.cap) {
      r.presence.countLeave();
      state.ticking.insert(room);
    } else {
      broadcastMembership(home, room, r, Membership::Leave, username);
    }
  }
  if (left == 0) {
    state.roomsWithMembers.fetch_sub(1, std::memory_order_relaxed);
    // An empty room is forgotten, unless it still remembers recent client ids (a client whose
    // reconnect found the room empty may be retrying) or waits for the store: see removable().
    // (With a store the ids live on in the store; without one, a forgotten room starts over.)
    if (removable(r))
      state.rooms.erase(it);
    else
      state.ticking.insert(room);
  }
}

void HomeShardOwner::typing(std::size_t shard, const std::string& room, const std::string& username,
                            bool state) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, room, username, state] {
    auto& s = shards_[home];
    auto it = s.rooms.find(room);
    if (it == s.rooms.end()) return;
    HomeRoom& r = it->second;
    if (r.presence.setTyping(username, state, env_.unixClock(), env_.options.presence)) {
      broadcastTyping(home, room, r, username, state);
      if (state) s.ticking.insert(room);
    }
  });
}

void HomeShardOwner::broadcastTyping(std::size_t home, const std::string& room, HomeRoom& r,
                                     const std::string& username, bool state) {
  auto frame = std::make_shared<WireFrame>();
  frame->bytes = env_.encode(buildTypingJson(username, state, room), 0)->bytes;
  frame->skipUser = username;
  registry_.fanOut(home, room, r.shards, frame);
}

void HomeShardOwner::broadcastMembership(std::size_t home, const std::string& room, HomeRoom& r,
                                         Membership change, const std::string& username) {
  registry_.fanOutMembership(home, room, r.shards,
                             MembershipRecord{change, env_.unixClock(), username});
}

void HomeShardOwner::tick(std::size_t shard) {
  auto& s = shards_[shard];
  if (s.ticking.empty()) return;
  const std::int64_t now = env_.unixClock();
  for (auto it = s.ticking.begin(); it != s.ticking.end();) {
    auto room = s.rooms.find(*it);
    if (room == s.rooms.end()) {
      it = s.ticking.erase(it);
      continue;
    }
    HomeRoom& r = room->second;
    if (r.members == 0) {
      r.recent.forgetExpired(now, env_.options.duplicates);
      if (removable(r)) {
        s.rooms.erase(room);
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
      registry_.fanOut(shard, *it, r.shards, env_.encode(r.presence.takeSummaryJson(*it, now), 0));
    if (!r.presence.anyTyping() && !r.presence.summaryPending())
      it = s.ticking.erase(it);
    else
      ++it;
  }
}

void HomeShardOwner::accessChanged(std::size_t, const std::string& room, bool mayRefuse) {
  if (!env_.access || !mayRefuse) return;  // one access table, already current: no one to tell
  // Every shard, not just the mask's: a joiner whose shard the home has not heard of yet is on
  // its shard's list already (RoomOwner.h). A shard's walk runs after whatever that shard did
  // before, so a join it admitted under the old access is in the list it walks.
  for (std::size_t s = 0; s < env_.shardCount; ++s)
    env_.post(s, [this, s, room] {
      registry_.evict(s, room, *env_.access, [this, s, &room](const std::string& user, bool last) {
        leave(s, room, user, last);
      });
    });
}

void HomeShardOwner::presence(std::size_t shard, const std::string& room,
                              std::function<void(std::vector<std::string>)> done) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, shard, room, done = std::move(done)]() mutable {
    auto& rooms = shards_[home].rooms;
    auto it = rooms.find(room);
    std::vector<std::string> users =
        it == rooms.end() ? std::vector<std::string>{} : it->second.presence.users();
    env_.post(shard, [done = std::move(done), users = std::move(users)]() mutable {
      done(std::move(users));
    });
  });
}

// ---- the seam ------------------------------------------------------------------------------

void HomeShardOwner::answerSeam(std::size_t home, const std::string& room, std::size_t shard,
                                Frame presence, JoinDone done) {
  // The seam is the room's last id among everything this home shard sequenced before the
  // member was registered: those messages are in the read, all later ones arrive live. When
  // none of the room's messages is on its way to the store, the home shard knows that id
  // itself; otherwise a marker in the writer's queue yields it once it is durable.
  auto& state = shards_[home];
  HomeRoom& r = state.rooms.try_emplace(room).first->second;  // memberJoined() made it
  if (!env_.writer || (r.durableKnown && r.inFlight == 0))
    return answer(shard, std::move(done), JoinAnswer{std::move(presence), r.durableLastId, {}});
  if (!state.toStore.empty()) flushToStore(home);
  ++r.markers;
  seamsFromStore_.fetch_add(1, std::memory_order_relaxed);
  env_.writer->submitMarker(
      room, [this, home, shard, room, presence, done = std::move(done)](
                const store::StoreStatus& status, std::uint64_t bound) mutable {
        env_.post(
            home, [this, home, shard, room, presence = std::move(presence), done = std::move(done),
                   ok = status.ok, error = status.error, bound]() mutable {
              auto& st = shards_[home];
              HomeRoom& r = st.rooms.try_emplace(room).first->second;  // kept while markers > 0
              --r.markers;
              if (r.members == 0) st.ticking.insert(room);
              if (!ok)
                return answer(shard, std::move(done), JoinAnswer{std::move(presence), 0, error});
              // Messages handed to the store after the marker come back after this answer and raise
              // durableLastId further; until they have, inFlight keeps the next join on a marker.
              r.durableLastId = std::max(r.durableLastId, bound);
              r.durableKnown = true;
              answer(shard, std::move(done), JoinAnswer{std::move(presence), bound, {}});
            });
      });
}

// ---- sequence -> store -> fan-out ----------------------------------------------------------

void HomeShardOwner::publish(std::size_t shard, const std::string& room, Publish message) {
  Pending p;
  p.room = room;
  p.username = std::move(message.username);
  p.content = std::move(message.content);
  p.clientId = std::move(message.clientId);
  p.unixMillis = env_.unixClock();
  p.originShard = shard;
  p.sender = std::move(message.sender);
  p.done = std::move(message.done);
  p.signedIn = message.signedIn;
  const std::size_t home = env_.homeShard(room);
  if (home == shard) return sequence(home, std::move(p));
  env_.post(home, [this, home, p = std::move(p)]() mutable { sequence(home, std::move(p)); });
}

void HomeShardOwner::sequence(std::size_t home, Pending p) {
  auto& state = shards_[home];
  auto it = state.rooms.find(p.room);
  HomeRoom* r = it == state.rooms.end() ? nullptr : &it->second;

  if (r && r->presence.isTyping(p.username)) {
    // Sending a message ends typing; the others see that before the message itself.
    r->presence.setTyping(p.username, false, p.unixMillis, env_.options.presence);
    broadcastTyping(home, p.room, *r, p.username, false);
  }

  std::string key;
  if (!p.clientId.empty()) {
    key = DuplicateWindow::key(p.username, p.clientId);
    if (r) {
      if (const DuplicateWindow::Sent* seen =
              r->recent.find(key, p.unixMillis, env_.options.duplicates)) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        // The original goes back to the sender alone; one still on its way to the store will
        // reach it with everyone else.
        if (seen->frame) {
          // A copy without the id: the sender's catch-up filter would drop the original if
          // its join history already carried it, and this answer must arrive.
          sendTo(p.originShard, p.sender,
                 std::make_shared<const WireFrame>(WireFrame{seen->frame->bytes, 0, {}}));
          answerPublish(p.originShard, std::move(p.done),
                        {PublishResult::Outcome::Duplicate, seen->frame->messageId});
        } else if (p.done) {
          // The original is on its way to the store: the API's answer waits for its id.
          r->awaitingOriginal.emplace_back(
              key, [this, shard = p.originShard, done = std::move(p.done)](PublishResult res) {
                answerPublish(shard, done, res);
              });
        }
        return;
      }
      r->recent.remember(key, p.unixMillis, env_.options.duplicates);
    }
    // What memory cannot vouch for, the store can: since a start (a crash before the original's
    // echo, then a retry), or past the window's count bound in a very busy room.
    if (env_.writer)
      p.checkClientIdSince = DuplicateWindow::storeCheckSince(
          p.unixMillis, rememberingSinceMs_, r ? &r->recent : nullptr, env_.options.duplicates);
  }

  if (!env_.writer) {
    if (!r) {
      // The sender left with the room's last member before its message got here: no one to
      // tell. The server API's publish into an empty room is still sequenced (and answered);
      // the room is forgotten at the next tick, as any empty room without a store.
      if (!p.done) return;
      r = &state.rooms.try_emplace(p.room).first->second;
      state.ticking.insert(p.room);
    }
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
    Frame frame = env_.encode(json, m.id);
    state.sequenced.fetch_add(1, std::memory_order_relaxed);
    if (!key.empty()) r->recent.setFrame(key, frame);
    registry_.fanOut(home, p.room, r->shards, frame);
    answerPublish(p.originShard, std::move(p.done), {PublishResult::Outcome::Stored, m.id});
    return;
  }

  if (!r) {
    // The sender left with the room's last member. The room is kept until the store answers,
    // so that its inFlight count (what a later join's seam relies on) stays exact.
    r = &state.rooms.try_emplace(p.room).first->second;
    state.ticking.insert(p.room);
  }
  ++r->inFlight;
  state.toStore.push_back(std::move(p));
  if (!state.storeFlushPosted) {
    state.storeFlushPosted = true;
    // Everything sequenced during this loop turn goes to the store as one batch.
    env_.post(home, [this, home] { flushToStore(home); });
  }
}

void HomeShardOwner::flushToStore(std::size_t home) {
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
    m.signedIn = p.signedIn;
    m.checkClientIdSince = p.checkClientIdSince;
  }
  env_.writer->submit(std::move(messages),
                      [this, home, pending](const store::StoreStatus& status,
                                            std::vector<store::StoredMessage>&& stored) {
                        auto batch = std::make_shared<StoredBatch>();
                        batch->status = status;
                        batch->messages = std::move(stored);
                        batch->pending = pending;
                        env_.post(home, [this, home, batch = std::move(batch)]() mutable {
                          auto& state = shards_[home];
                          state.stored.push_back(std::move(batch));
                          if (!state.storedDrainPosted) drainStored(home);
                        });
                      });
}

void HomeShardOwner::drainStored(std::size_t home) {
  auto& state = shards_[home];
  state.storedDrainPosted = false;
  // A chunk ends at its kFanOutChunk-th distinct room, not message: frames for rooms already in
  // the chunk go to connections that are already waiting for this turn's write, so a busy
  // room's messages still leave many per write (corking), while messages spread over many
  // rooms (one write per delivery regardless) leave in smaller, smoother turns. (Cutting a busy
  // room's commit every 32 messages cut its frames per write too: fan-out with SQLite fell from
  // ~4.5 M to 2.8 M deliveries/s until the chunk counted rooms.)
  std::string_view rooms[kFanOutChunk];  // into messages of `done` or of stored.front()
  std::size_t roomCount = 0;
  std::vector<std::shared_ptr<StoredBatch>> done;  // kept while `rooms` may point into them
  while (!state.stored.empty()) {
    StoredBatch& b = *state.stored.front();
    if (b.messages.empty()) {
      if (!b.changes.empty())
        onChanged(home, b.status, b.changes.front(), b.changeShard, b.changeDone);
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
  env_.post(home, [this, home] { drainStored(home); });
}

void HomeShardOwner::onStored(std::size_t home, const store::StoreStatus& status,
                              const store::StoredMessage& m, Pending& p) {
  auto& state = shards_[home];
  auto it = state.rooms.find(m.room);
  HomeRoom* r = it == state.rooms.end() ? nullptr : &it->second;
  if (r) {
    --r->inFlight;  // sequence() kept the room for this message
    if (status.ok)
      r->durableLastId = std::max(r->durableLastId, m.id);
    else
      r->durableKnown = false;  // the store may know better (an in-doubt commit): ask it
    if (r->members == 0) state.ticking.insert(m.room);
  }
  const std::string key =
      m.clientId.empty() ? std::string() : DuplicateWindow::key(m.username, m.clientId);
  if (!status.ok) {
    storeRefusals_.fetch_add(1, std::memory_order_relaxed);
    if (r && !key.empty()) r->recent.forget(key);  // a retry must be able to go through
    answerPublish(p.originShard, std::move(p.done), {PublishResult::Outcome::StoreUnavailable, 0});
    answerAwaiting(r, key, {PublishResult::Outcome::StoreUnavailable, 0});
    sendTo(p.originShard, p.sender,
           env_.encode(buildErrorJson("store_unavailable",
                                      "the message could not be stored and was not delivered; "
                                      "send it again",
                                      m.clientId, m.room),
                       0));
    return;
  }
  if (m.duplicate) {
    // A retry of a message stored before this owner's memory began: the original (as stored,
    // with its id and time) goes back to the sender alone, as an in-memory duplicate's does.
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    std::string json;
    appendMessageJson(json, chatMessageOf(m));
    Frame original = env_.encode(json, m.id);
    if (r && !key.empty()) r->recent.setFrame(key, original);
    sendTo(p.originShard, p.sender,
           std::make_shared<const WireFrame>(WireFrame{original->bytes, 0, {}}));
    answerPublish(p.originShard, std::move(p.done), {PublishResult::Outcome::Duplicate, m.id});
    answerAwaiting(r, key, {PublishResult::Outcome::Duplicate, m.id});
    return;
  }
  state.sequenced.fetch_add(1, std::memory_order_relaxed);
  answerPublish(p.originShard, std::move(p.done), {PublishResult::Outcome::Stored, m.id});
  answerAwaiting(r, key, {PublishResult::Outcome::Stored, m.id});
  if (!r) return;  // stored; nobody is left in the room to deliver it to
  std::string json;
  json.reserve(112 + m.room.size() + m.username.size() + m.content.size());
  appendMessageJson(json, chatMessageOf(m));
  Frame frame = env_.encode(json, m.id);
  if (!key.empty()) r->recent.setFrame(key, frame);
  registry_.fanOut(home, m.room, r->shards, frame);
}

// ---- edits and deletes ----------------------------------------------------------------------

void HomeShardOwner::change(std::size_t shard, const std::string& room, MessageEdit edit,
                            EditDone done) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home,
         [this, home, shard, room, edit = std::move(edit), done = std::move(done)]() mutable {
           submitChange(home, shard, room, std::move(edit), std::move(done));
         });
}

void HomeShardOwner::submitChange(std::size_t home, std::size_t shard, const std::string& room,
                                  MessageEdit edit, EditDone done) {
  if (!env_.writer) {
    env_.post(shard, [done = std::move(done)] { done(EditOutcome::NoStore); });
    return;
  }
  store::MessageChange c;
  c.kind = edit.kind == MessageEdit::Kind::Edit ? store::MessageChange::Kind::Edit
                                                : store::MessageChange::Kind::Delete;
  c.room = room;
  c.id = edit.id;
  c.actor = edit.actor.username;
  c.actorSignedIn = edit.actor.signedIn;
  c.moderator = moderation_.mayModerate(edit.actor, room);
  c.content = std::move(edit.content);
  c.unixMillis = env_.unixClock();
  // Behind every message of the room sequenced before it (promise 8): this turn's batch goes
  // to the writer first, and the writer applies changes after the messages it commits with them.
  auto& state = shards_[home];
  if (!state.toStore.empty()) flushToStore(home);
  std::vector<store::MessageChange> changes;
  changes.push_back(std::move(c));
  env_.writer->submitChanges(
      std::move(changes),
      [this, home, shard, done = std::move(done)](
          const store::StoreStatus& status, std::vector<store::MessageChange>&& applied) mutable {
        // Queued with the room's commits, so it is announced in its place among them.
        auto batch = std::make_shared<StoredBatch>();
        batch->status = status;
        batch->changes = std::move(applied);
        batch->changeShard = shard;
        batch->changeDone = std::move(done);
        env_.post(home, [this, home, batch = std::move(batch)]() mutable {
          auto& st = shards_[home];
          st.stored.push_back(std::move(batch));
          if (!st.storedDrainPosted) drainStored(home);
        });
      });
}

void HomeShardOwner::onChanged(std::size_t home, const store::StoreStatus& status,
                               const store::MessageChange& c, std::size_t shard, EditDone& done) {
  using Outcome = store::MessageChange::Outcome;
  EditOutcome outcome = !status.ok                       ? EditOutcome::StoreUnavailable
                        : c.outcome == Outcome::Applied  ? EditOutcome::Applied
                        : c.outcome == Outcome::NotFound ? EditOutcome::NotFound
                                                         : EditOutcome::NotAllowed;
  if (outcome == EditOutcome::Applied) {
    auto& state = shards_[home];
    if (auto it = state.rooms.find(c.room); it != state.rooms.end() && it->second.members > 0) {
      // Id 0: the frame is about an old message, which a catching-up member's filter (by id)
      // would otherwise drop; applying it twice is harmless.
      const std::string json = c.kind == store::MessageChange::Kind::Edit
                                   ? buildEditedJson(c.id, c.content, c.unixMillis, c.room)
                                   : buildDeletedJson(c.id, c.room);
      registry_.fanOut(home, c.room, it->second.shards, env_.encode(json, 0));
    }
  }
  env_.post(shard, [done = std::move(done), outcome] { done(outcome); });
}

}  // namespace parley::chat
