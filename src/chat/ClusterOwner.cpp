#include "chat/ClusterOwner.h"

#include <algorithm>
#include <utility>

#include "auth/RoomAccess.h"
#include "chat/HistoryJson.h"
#include "chat/HubEnvironment.h"
#include "chat/Protocol.h"
#include "cluster/BucketLeases.h"
#include "cluster/ControlChannel.h"
#include "cluster/Envelope.h"
#include "cluster/RedisLink.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::chat {

namespace {

// Envelope kinds. On a room's channel, from its owner: a stored message, typing, a join, a
// leave, a presence frame. In an instance's inbox, to an owner: a send, a presence announcement,
// typing, a presence query; to a sender's instance: the original of a duplicate, a refusal, the
// answer to a query. Field 0 is always the room: it picks the home shard.
constexpr char kMessage = 'M', kTyping = 'T', kJoin = 'J', kLeave = 'L', kPresence = 'S';
constexpr char kChanged = 'F';  // an applied edit or delete: its frame, the message's id
constexpr char kBatch = 'B';    // a commit's messages of one room, packed (cluster/Envelope)
constexpr char kSend = 'P', kAnnounce = 'A', kTypingIn = 'Y', kQuery = 'Q', kChange = 'C';
constexpr char kDuplicate = 'D', kRefused = 'E', kQueryAnswer = 'R', kChangeOutcome = 'O';
constexpr char kAck = 'K';  // a stored send's id, for an origin waiting without a member
constexpr std::size_t kMaxAwaiting = 16;

constexpr std::string_view kRoomPrefix = "parley:room:";
constexpr std::string_view kInboxPrefix = "parley:inbox:{";
constexpr std::size_t kReadPage = 200;  // messages per gap-filling read

const char* const kUnavailable =
    "the cluster could not take the message now (nothing was stored); send it again with the "
    "same client_id";

}  // namespace

ClusterOwner::ClusterOwner(const HubEnvironment& env, RoomRegistry& registry,
                           cluster::RedisLink& link, cluster::BucketLeases& leases,
                           const ModerationPolicy& moderation, ClusterOptions options)
    : env_(env),
      registry_(registry),
      link_(link),
      leases_(leases),
      moderation_(moderation),
      options_(options),
      self_(leases.instanceId()),
      startedMs_(env.unixClock()),
      shards_(std::make_unique<ShardState[]>(env.shardCount)),
      inbound_(std::make_unique<HandOver<Inbound>[]>(env.shardCount)),
      stored_(std::make_unique<HandOver<Stored>[]>(env.shardCount)),
      bucketSinceMs_(std::make_unique<std::atomic<std::int64_t>[]>(leases.bucketCount())) {
  for (std::size_t b = 0; b < leases.bucketCount(); ++b) bucketSinceMs_[b].store(0);
  linkUp_.store(link.up());
  link_.subscribe(inboxChannel(self_));
}

ClusterOwner::~ClusterOwner() = default;

std::string ClusterOwner::roomChannel(std::string_view room) const {
  std::string c(kRoomPrefix);
  c += leases_.tag(leases_.bucketOf(room));
  c += ':';
  c += room;
  return c;
}

std::string ClusterOwner::inboxChannel(std::string_view instance) const {
  std::string c(kInboxPrefix);
  c += instance;
  c += '}';
  return c;
}

OwnerCounts ClusterOwner::counts() const {
  OwnerCounts c;
  for (std::size_t i = 0; i < env_.shardCount; ++i) {
    c.rooms += shards_[i].roomsWithMembers.load(std::memory_order_relaxed);
    c.sequenced += shards_[i].sequenced.load(std::memory_order_relaxed);
  }
  c.storeRefusals = storeRefusals_.load(std::memory_order_relaxed);
  c.duplicates = duplicates_.load(std::memory_order_relaxed);
  return c;
}

ClusterCounts ClusterOwner::clusterCounts() const {
  constexpr auto r = std::memory_order_relaxed;
  return {forwarded_.load(r),   relayed_.load(r),   gapFills_.load(r),      filled_.load(r),
          unavailable_.load(r), malformed_.load(r), bucketsGained_.load(r), rebuilds_.load(r)};
}

template <typename Task>
void ClusterOwner::onHome(std::size_t from, std::size_t home, Task&& task) {
  if (from == home)
    task();
  else
    env_.post(home, std::function<void()>(std::forward<Task>(task)));
}

template <typename Task>
void ClusterOwner::onEveryShard(Task task) {
  for (std::size_t s = 0; s < env_.shardCount; ++s) env_.post(s, [task, s] { task(s); });
}

std::uint64_t ClusterOwner::newRequest(std::size_t home) {
  // Unique on this instance: the shard in the top byte, a counter below.
  return (static_cast<std::uint64_t>(home) << 56) | ++shards_[home].nextRequest;
}

bool ClusterOwner::ownedHere(std::string_view room) const {
  return leases_.holds(leases_.bucketOf(room));
}

std::string ClusterOwner::ownerOf(std::string_view room) const {
  return leases_.owner(leases_.bucketOf(room));
}

void ClusterOwner::answer(std::size_t shard, JoinDone done, JoinAnswer answer) {
  env_.post(shard, [done = std::move(done), answer = std::move(answer)]() mutable {
    done(std::move(answer));
  });
}

void ClusterOwner::sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame) {
  env_.post(shard, [member = std::move(member), frame = std::move(frame)] {
    if (auto m = member.lock()) m->deliver(frame);
  });
}

void ClusterOwner::finishSend(std::size_t home, std::uint64_t request, PublishResult result,
                              Frame frame) {
  auto& s = shards_[home];
  auto it = s.sends.find(request);
  if (it == s.sends.end()) return;
  PendingSend& p = it->second;
  if (frame) sendTo(p.shard, p.sender, std::move(frame));
  if (p.done) env_.post(p.shard, [done = std::move(p.done), result] { done(result); });
  s.sends.erase(it);
}

void ClusterOwner::sendUnavailable(std::size_t home, std::uint64_t request) {
  auto& s = shards_[home];
  auto it = s.sends.find(request);
  if (it == s.sends.end()) return;
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  finishSend(home, request, {PublishResult::Outcome::StoreUnavailable, 0},
             errorFrame("cluster_unavailable", kUnavailable, it->second.clientId, it->second.room));
}

Frame ClusterOwner::errorFrame(std::string_view code, std::string_view message,
                               std::string_view clientId, std::string_view room) const {
  return env_.encode(buildErrorJson(code, message, clientId, room), 0);
}

// Hands `payload` to `instance`'s inbox: this instance's own is a posted task (same order as
// everything else posted to the home shard); another's goes through Redis. `unreceived`, if
// any, runs on the home shard when nobody received the payload (the instance is gone, Redis is
// down): the sender need not wait for an answer that cannot come.
void ClusterOwner::send(const std::string& instance, std::string payload, std::size_t home,
                        std::function<void()> unreceived) {
  if (instance == self_) {
    env_.post(home, [this, home, payload = std::move(payload)] {
      cluster::Envelope e;
      if (cluster::parseEnvelope(payload, e)) fromInbox(home, e);
    });
    return;
  }
  cluster::RedisLink::ReplyFn done;
  if (unreceived)
    done = [this, home, unreceived = std::move(unreceived)](cluster::RedisReply reply) {
      if (!reply.error() && reply.integer > 0) return;
      env_.post(home, unreceived);
    };
  link_.publish(inboxChannel(instance), payload, std::move(done));
}

std::vector<std::string> ClusterOwner::usersHere(std::size_t home, const std::string& room) const {
  std::vector<std::string> users;
  const auto& relays = shards_[home].relays;
  if (auto it = relays.find(room); it != relays.end())
    for (const auto& [user, n] : it->second.users) users.push_back(user);
  std::sort(users.begin(), users.end());
  return users;
}

void ClusterOwner::broadcast(const std::string& room, std::string payload) {
  link_.publish(roomChannel(room), payload, nullptr);
}

// ---- the relay half ------------------------------------------------------------------------

void ClusterOwner::join(std::size_t shard, const std::string& room, const std::string& username,
                        bool firstHere, bool wantSeam, JoinDone done) {
  const std::size_t home = env_.homeShard(room);
  onHome(
      shard, home,
      [this, home, shard, room, username, firstHere, wantSeam, done = std::move(done)]() mutable {
        auto& s = shards_[home];
        auto [it, created] = s.relays.try_emplace(room);
        RelayRoom& r = it->second;
        if (r.members++ == 0) s.roomsWithMembers.fetch_add(1, std::memory_order_relaxed);
        if (firstHere) r.shards.add(shard);
        if (created) link_.subscribe(roomChannel(room));
        if (++r.users[username] == 1) announce(home, room, username, true);
        WaitingJoin w;
        w.shard = shard;
        w.wantSeam = wantSeam;
        w.done = std::move(done);
        w.deadlineMs = env_.steadyClock() + options_.joinTimeoutMs;
        r.joins.push_back(std::move(w));
        advanceJoins(home, room, r);
      });
}

void ClusterOwner::leave(std::size_t shard, const std::string& room, const std::string& username,
                         bool lastHere) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, shard, room, username, lastHere] {
    auto& s = shards_[home];
    auto it = s.relays.find(room);
    if (it == s.relays.end()) return;
    RelayRoom& r = it->second;
    if (lastHere) r.shards.remove(shard);
    if (auto u = r.users.find(username); u != r.users.end() && --u->second == 0) {
      r.users.erase(u);
      announce(home, room, username, false);
    }
    if (--r.members == 0) {
      s.roomsWithMembers.fetch_sub(1, std::memory_order_relaxed);
      dropRelay(home, room);
    }
  });
}

void ClusterOwner::dropRelay(std::size_t home, const std::string& room) {
  auto& s = shards_[home];
  auto it = s.relays.find(room);
  if (it == s.relays.end()) return;
  // A store read still in flight finds no room and does nothing; joins cannot be waiting here
  // (each waiting join is a member).
  link_.unsubscribe(roomChannel(room));
  s.relays.erase(it);
}

void ClusterOwner::announce(std::size_t home, const std::string& room, const std::string& username,
                            bool present) {
  const std::string owner = ownerOf(room);
  // No owner known: the next owner hears it when it takes the bucket (onOwnerChanged).
  if (owner.empty()) return;
  send(owner,
       cluster::EnvelopeWriter(kAnnounce)
           .add(room)
           .add(username)
           .add(self_)
           .add(std::uint64_t{present ? 1u : 0u})
           .take(),
       home);
}

// A join completes once the room's channel is in place and the relay knows where its ids stand
// (lastKnown), and the owner answered with the presence list (or did not in time). Its seam is
// the relay's last delivered id at that moment: every id up to it is durable (the owner publishes
// only what is stored), every later one is still to be delivered to the room's shards, the
// joiner's among them (promise 5).
void ClusterOwner::advanceJoins(std::size_t home, const std::string& room, RelayRoom& r) {
  if (!r.sends.empty() && r.subscribed && r.lastKnown) {
    auto sends = std::move(r.sends);
    r.sends.clear();
    for (auto& [shard, p] : sends) publishOnHome(home, shard, room, std::move(p));
  }
  if (r.joins.empty()) return;
  auto& s = shards_[home];
  const std::int64_t now = env_.steadyClock();
  std::vector<WaitingJoin> still;
  for (auto& w : r.joins) {
    const bool ready = r.subscribed && r.lastKnown;
    if (ready && w.query == 0) {
      w.query = newRequest(home);
      w.queryDeadlineMs = now + options_.presenceWaitMs;
      const std::string owner = ownerOf(room);
      if (!owner.empty()) {
        // A presence query (PresenceQuery with no callback: the answer lands in the join).
        s.queries[w.query] = PresenceQuery{w.shard, nullptr, w.deadlineMs};
        // An owner that cannot hear it (gone, Redis down): the local users at once, not after
        // the presence wait (a reconnect storm after an instance died meets exactly this).
        send(owner, cluster::EnvelopeWriter(kQuery).add(room).add(self_).add(w.query).take(), home,
             [this, home, room, query = w.query] {
               auto& relays = shards_[home].relays;
               auto it = relays.find(room);
               if (it == relays.end()) return;
               for (auto& waiting : it->second.joins)
                 if (waiting.query == query) waiting.queryDeadlineMs = env_.steadyClock();
               advanceJoins(home, room, it->second);
             });
      } else {
        // No owner known (one is taking the bucket): nobody to ask, so no wait; the local users
        // now, and the owner's whole list once it has one.
        w.queryDeadlineMs = now;
      }
    }
    const bool timedOut = now >= w.deadlineMs;
    const bool answered = w.presence || (w.query != 0 && now >= w.queryDeadlineMs);
    if (!(ready && answered) && !timedOut) {
      still.push_back(std::move(w));
      continue;
    }
    if (w.query != 0) s.queries.erase(w.query);
    Frame presence = w.presence;
    if (!presence) {
      // The owner did not answer (none yet, or Redis is down): the users here, for now; the
      // owner sends the whole list once it has it (a presence frame may come at any time).
      RoomPresence local;
      for (const auto& [user, n] : r.users) local.addConnection(user);
      presence = env_.encode(local.presenceJson(room, env_.options.presence), 0);
    }
    if (!ready) {
      answer(w.shard, std::move(w.done),
             JoinAnswer{std::move(presence), 0, "the cluster is unavailable"});
      continue;
    }
    answer(w.shard, std::move(w.done), JoinAnswer{std::move(presence), r.lastDelivered, {}});
  }
  r.joins = std::move(still);
}

void ClusterOwner::onSubscribed(std::string_view channel) {
  if (!channel.starts_with(kRoomPrefix)) return;
  const std::size_t close = channel.find("}:");
  if (close == std::string_view::npos) return;
  std::string room(channel.substr(close + 2));
  const std::size_t home = env_.homeShard(room);
  env_.post(home, [this, home, room = std::move(room)] {
    auto& s = shards_[home];
    auto it = s.relays.find(room);
    if (it == s.relays.end()) return;
    RelayRoom& r = it->second;
    r.subscribed = true;
    // First time: where the room's ids stand. Again (a reconnect, a slot move): what was
    // published while the channel was not in place.
    readStore(home, room, r);
  });
}

// A store read for `room`: without lastKnown, its last id (the start of the relay's order);
// with it, the messages after the last delivered one (a gap, or a check after a resubscribe).
void ClusterOwner::readStore(std::size_t home, const std::string& room, RelayRoom& r) {
  if (r.reading) {
    r.readAgain = true;
    return;
  }
  r.reading = true;
  r.readAgain = false;
  const bool lastOnly = !r.lastKnown;
  const std::uint64_t after = r.lastDelivered;
  if (!lastOnly) gapFills_.fetch_add(1, std::memory_order_relaxed);
  const bool queued =
      env_.reader->submit([this, home, room, lastOnly, after](store::MessageStore& store) {
        std::uint64_t last = 0;
        std::vector<store::StoredMessage> messages;
        store::StoreStatus status =
            lastOnly ? store.lastId(room, last) : store.after(room, after, kReadPage, messages);
        env_.post(home, [this, home, room, ok = status.ok, lastOnly, last,
                         messages = std::move(messages)]() mutable {
          onRead(home, room, ok, lastOnly, last, std::move(messages));
        });
      });
  if (!queued) {
    // The reader is full: try again on the next tick.
    r.reading = false;
    r.readAgain = true;
  }
}

void ClusterOwner::onRead(std::size_t home, const std::string& room, bool ok, bool lastOnly,
                          std::uint64_t lastId, std::vector<store::StoredMessage> messages) {
  auto& s = shards_[home];
  auto it = s.relays.find(room);
  if (it == s.relays.end()) return;
  RelayRoom& r = it->second;
  r.reading = false;
  if (!ok) {
    r.readAgain = true;  // the tick tries again; joins wait (or time out)
    return;
  }
  if (lastOnly) {
    r.lastKnown = true;
    r.lastDelivered = std::max(r.lastDelivered, lastId);
  } else {
    for (auto& m : messages) {
      if (m.id != r.lastDelivered + 1) continue;
      // A filled message may be one of this instance's own sends whose frame was lost: settle it.
      for (auto send = s.sends.begin(); send != s.sends.end(); ++send)
        if (!m.clientId.empty() && send->second.room == room &&
            send->second.clientId == m.clientId && send->second.username == m.username) {
          finishSend(home, send->first, {PublishResult::Outcome::Stored, m.id}, nullptr);
          break;
        }
      std::string json;
      appendMessageJson(json, chatMessageOf(m));
      r.lastDelivered = m.id;
      filled_.fetch_add(1, std::memory_order_relaxed);
      registry_.fanOut(home, room, r.shards, env_.encode(json, m.id));
    }
    if (messages.size() == kReadPage) r.readAgain = true;  // more may follow
  }
  deliverInOrder(home, room, r);
  if (r.readAgain && !r.held.empty()) readStore(home, room, r);
  advanceJoins(home, room, r);
}

void ClusterOwner::relayFrame(std::size_t home, const std::string& room, std::uint64_t id,
                              Frame frame) {
  auto& s = shards_[home];
  auto it = s.relays.find(room);
  if (it == s.relays.end()) return;
  RelayRoom& r = it->second;
  if (r.lastKnown && id <= r.lastDelivered) return;  // delivered already (or filled)
  if (r.held.size() >= options_.maxHeldPerRoom) {
    // Too far behind to hold more: the store has all of it; read instead of holding.
    r.held.clear();
    readStore(home, room, r);
    return;
  }
  r.held.emplace(id, std::move(frame));
  deliverInOrder(home, room, r);
}

void ClusterOwner::deliverInOrder(std::size_t home, const std::string& room, RelayRoom& r) {
  if (!r.lastKnown) return;
  while (!r.held.empty()) {
    auto first = r.held.begin();
    if (first->first <= r.lastDelivered) {
      r.held.erase(first);
      continue;
    }
    if (first->first != r.lastDelivered + 1) break;
    r.lastDelivered = first->first;
    relayed_.fetch_add(1, std::memory_order_relaxed);
    registry_.fanOut(home, room, r.shards, first->second);
    r.held.erase(first);
  }
  if (!r.heldChanges.empty() && r.lastKnown) {
    // In the order they came (the owner's), once their messages are out.
    std::vector<std::pair<std::uint64_t, Frame>> waiting;
    for (auto& [of, frame] : r.heldChanges)
      if (of <= r.lastDelivered)
        registry_.fanOut(home, room, r.shards, frame);
      else
        waiting.emplace_back(of, std::move(frame));
    r.heldChanges.swap(waiting);
  }
  if (r.held.empty())
    r.gapSinceMs = 0;
  else if (r.gapSinceMs == 0)
    r.gapSinceMs = env_.steadyClock();
}

void ClusterOwner::settleSend(std::size_t home, std::uint64_t request, std::uint64_t id) {
  finishSend(home, request, {PublishResult::Outcome::Stored, id}, nullptr);
}

void ClusterOwner::fromRoomChannel(std::size_t home, const std::string& room,
                                   const cluster::Envelope& e) {
  auto& s = shards_[home];
  auto it = s.relays.find(room);
  if (it == s.relays.end()) return;  // nobody here any more
  RelayRoom& r = it->second;
  switch (e.kind) {
    case kMessage: {
      std::uint64_t id = 0, request = 0;
      if (!e.number(1, id) || id == 0) break;
      if (e.field(3) == self_ && e.number(4, request)) settleSend(home, request, id);
      relayFrame(home, room, id, env_.encode(e.field(2), id));
      return;
    }
    case kBatch: {
      bool ok = true;
      if (!cluster::unpackEnvelopes(e.field(1), [&](std::string_view bytes) {
            cluster::Envelope m;
            if (!cluster::parseEnvelope(bytes, m) || m.kind != kMessage || m.field(0) != room) {
              ok = false;
              return;
            }
            fromRoomChannel(home, room, m);
          }))
        break;
      if (!ok) malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    case kTyping: {
      if (e.field(1).empty()) break;
      relayTyping(home, room, r, std::string(e.field(1)), e.field(2) == "1");
      return;
    }
    case kJoin:
    case kLeave: {
      std::uint64_t at = 0;
      if (!e.number(2, at)) break;
      registry_.fanOutMembership(
          home, room, r.shards,
          MembershipRecord{e.kind == kJoin ? Membership::Join : Membership::Leave,
                           static_cast<std::int64_t>(at), std::string(e.field(1))});
      return;
    }
    case kChanged: {
      // (An edit or delete's frame has message id 0: it is about an old message, which a
      // catching-up member's filter must not drop; applying it twice is harmless.)
      Frame frame = env_.encode(e.field(1), 0);
      std::uint64_t of = 0;  // the message changed (absent from an older owner: at once)
      if (e.number(2, of) && (!r.lastKnown || of > r.lastDelivered) &&
          r.heldChanges.size() < options_.maxHeldPerRoom) {
        r.heldChanges.emplace_back(of, std::move(frame));
        return;
      }
      registry_.fanOut(home, room, r.shards, frame);
      return;
    }
    case kPresence:
      registry_.fanOut(home, room, r.shards, env_.encode(e.field(1), 0));
      return;
    default:
      break;
  }
  malformed_.fetch_add(1, std::memory_order_relaxed);
}

void ClusterOwner::relayTyping(std::size_t home, const std::string& room, RelayRoom& r,
                               const std::string& user, bool state) {
  if (state) {
    // A second past the owner's own expiry: while the owner lives, its `false` comes first.
    // Bounded by the room's members here (the owner sends typing only for members).
    if (r.typingUntil.size() < options_.maxHeldPerRoom || r.typingUntil.contains(user))
      r.typingUntil[user] = env_.steadyClock() + env_.options.presence.typingTimeoutMs + 1000;
  } else {
    r.typingUntil.erase(user);
  }
  auto frame = std::make_shared<WireFrame>();
  frame->bytes = env_.encode(buildTypingJson(user, state, room), 0)->bytes;
  frame->skipUser = user;
  registry_.fanOut(home, room, r.shards, frame);
}

void ClusterOwner::onMessage(std::string_view channel, std::string_view payload) {
  // Parsed here to find the room (and its shard), again there: views do not travel.
  cluster::Envelope e;
  if (!cluster::parseEnvelope(payload, e) || e.count == 0) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::size_t home = env_.homeShard(e.field(0));
  const bool fromRoom = channel.starts_with(kRoomPrefix);
  // Batched per shard: what arrives while a drain is already posted joins it, so a burst of a
  // room's messages is fanned out in one task and leaves in one write per member (corking), as a
  // commit's messages do on a single server. (One task per message: fanout on one instance with
  // --cluster ran at ~0.65x of one without.)
  if (inbound_[home].push(Inbound{fromRoom, std::string(payload)}))
    env_.post(home, [this, home] { drainInbound(home); });
}

void ClusterOwner::drainInbound(std::size_t home) {
  for (const Inbound& in : inbound_[home].take()) {
    cluster::Envelope e;
    cluster::parseEnvelope(in.payload, e);
    if (in.fromRoom)
      fromRoomChannel(home, std::string(e.field(0)), e);
    else
      fromInbox(home, e);
  }
}

// ---- sends, typing, presence from local members ------------------------------------------

void ClusterOwner::publish(std::size_t shard, const std::string& room, Publish message) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, shard, room, message = std::move(message)]() mutable {
    publishOnHome(home, shard, room, std::move(message));
  });
}

void ClusterOwner::publishOnHome(std::size_t home, std::size_t shard, const std::string& room,
                                 Publish message) {
  auto& s = shards_[home];
  if (auto r = s.relays.find(room);
      r != s.relays.end() && !(r->second.subscribed && r->second.lastKnown)) {
    // The room's channel is not in place yet: this instance would miss the message's frame (its
    // sender, the echo). It goes to the owner once the channel is there (advanceJoins), in order.
    if (r->second.sends.size() < options_.maxHeldPerRoom) {
      r->second.sends.emplace_back(shard, std::move(message));
      return;
    }
  }
  Sequenced q;
  q.room = room;
  q.username = std::move(message.username);
  q.content = std::move(message.content);
  q.clientId = std::move(message.clientId);
  q.origin = self_;
  q.request = newRequest(home);
  q.signedIn = message.signedIn;
  // The server API's publish has no member here to see the room's frame: the owner answers it.
  q.wantsAck = static_cast<bool>(message.done);
  s.sends[q.request] = PendingSend{room,
                                   q.username,
                                   q.clientId,
                                   shard,
                                   message.sender,
                                   std::move(message.done),
                                   env_.steadyClock() + options_.sendTimeoutMs};
  dispatch(home, std::move(q));
}

void ClusterOwner::dispatch(std::size_t home, Sequenced q) {
  auto& s = shards_[home];
  const std::string owner = ownerOf(q.room);
  if (owner == self_) return ownerPublish(home, std::move(q));
  if (!linkUp_.load(std::memory_order_relaxed)) return sendUnavailable(home, q.request);
  if (owner.empty() || s.ownerlessRooms.contains(q.room)) {
    // No owner known (a bucket changing hands, for a heartbeat or two): wait for one rather
    // than refuse a send that would go through a moment later; behind the room's earlier ones.
    if (s.ownerless.size() >= options_.maxHeldPerRoom) return sendUnavailable(home, q.request);
    s.ownerlessRooms.insert(q.room);
    s.ownerless.push_back(std::move(q));
    return;
  }
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  const std::string room = q.room;
  send(owner,
       cluster::EnvelopeWriter(kSend, 64 + q.content.size())
           .add(room)
           .add(q.username)
           .add(q.content)
           .add(q.clientId)
           .add(self_)
           .add(q.request)
           .add(std::uint64_t{(q.signedIn ? 1u : 0u) | (q.wantsAck ? 2u : 0u)})
           .take(),
       // Nobody took it: cluster_unavailable now, not after the send timeout.
       home, [this, home, request = q.request] { sendUnavailable(home, request); });
}

void ClusterOwner::releaseOwnerless(std::size_t home) {
  auto& s = shards_[home];
  if (s.ownerless.empty()) return;
  std::deque<Sequenced> waiting;
  waiting.swap(s.ownerless);
  s.ownerlessRooms.clear();
  for (Sequenced& q : waiting)
    if (s.sends.contains(q.request)) dispatch(home, std::move(q));  // (else: timed out, told)
}

void ClusterOwner::typing(std::size_t shard, const std::string& room, const std::string& username,
                          bool state) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, room, username, state] {
    const std::string owner = ownerOf(room);
    if (owner.empty()) return;  // typing is a hint: dropped while no one owns the room
    send(owner,
         cluster::EnvelopeWriter(kTypingIn)
             .add(room)
             .add(username)
             .add(std::uint64_t{state ? 1u : 0u})
             .take(),
         home);
  });
}

void ClusterOwner::presence(std::size_t shard, const std::string& room,
                            std::function<void(std::vector<std::string>)> done) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home, [this, home, shard, room, done = std::move(done)]() mutable {
    auto& s = shards_[home];
    const std::string owner = ownerOf(room);
    if (owner.empty()) {
      // No owner: the users this instance knows.
      env_.post(shard, [done = std::move(done), users = usersHere(home, room)]() mutable {
        done(std::move(users));
      });
      return;
    }
    const std::uint64_t request = newRequest(home);
    s.queries[request] =
        PresenceQuery{shard, std::move(done), env_.steadyClock() + options_.joinTimeoutMs};
    send(owner, cluster::EnvelopeWriter(kQuery).add(room).add(self_).add(request).take(), home,
         [this, home, room, request] {
           auto& queries = shards_[home].queries;
           auto q = queries.find(request);
           if (q == queries.end() || !q->second.done) return;
           env_.post(q->second.shard,
                     [done = std::move(q->second.done), users = usersHere(home, room)]() mutable {
                       done(std::move(users));
                     });
           queries.erase(q);
         });
  });
}

// ---- eviction ------------------------------------------------------------------------------

void ClusterOwner::accessChanged(std::size_t, const std::string& room, bool mayRefuse) {
  if (mayRefuse) evictHere(room);
  const char kind = mayRefuse ? cluster::kControlAccessChanged : cluster::kControlAccessGranted;
  link_.publish(cluster::kControlChannel, cluster::EnvelopeWriter(kind).add(self_).add(room).take(),
                nullptr);
}

void ClusterOwner::evictHere(const std::string& room) {
  if (!env_.access) return;
  // Every shard, not just those with members the home shard knows of: a join admitted under the
  // old access is on its shard's list before the home shard hears of it (RoomOwner.h).
  for (std::size_t s = 0; s < env_.shardCount; ++s)
    env_.post(s, [this, s, room] {
      auto evictOn = [this, s](const std::string& r) {
        registry_.evict(s, r, *env_.access, [this, s, &r](const std::string& user, bool last) {
          leave(s, r, user, last);
        });
      };
      if (!room.empty()) return evictOn(room);
      // Every room with members on this shard (copied: eviction changes the registry).
      std::unordered_map<std::string, std::size_t> rooms;
      registry_.countMembers(s, rooms);
      for (const auto& [r, n] : rooms) evictOn(r);
    });
}

// ---- edits and deletes -----------------------------------------------------------------------

void ClusterOwner::change(std::size_t shard, const std::string& room, MessageEdit edit,
                          EditDone done) {
  const std::size_t home = env_.homeShard(room);
  onHome(shard, home,
         [this, home, shard, room, edit = std::move(edit), done = std::move(done)]() mutable {
           auto& s = shards_[home];
           const std::string owner = ownerOf(room);
           if (owner.empty()) {
             env_.post(shard, [done = std::move(done)] { done(EditOutcome::StoreUnavailable); });
             return;
           }
           const std::uint64_t request = newRequest(home);
           s.changes[request] =
               PendingChange{shard, std::move(done), env_.steadyClock() + options_.sendTimeoutMs};
           send(owner,
                cluster::EnvelopeWriter(kChange, 96 + edit.content.size())
                    .add(room)
                    .add(std::uint64_t{edit.kind == MessageEdit::Kind::Edit ? 1u : 0u})
                    .add(edit.id)
                    .add(edit.actor.username)
                    .add(std::uint64_t{(edit.actor.signedIn ? 1u : 0u) |
                                       (edit.actor.serverKey ? 2u : 0u)})
                    .add(edit.content)
                    .add(self_)
                    .add(request)
                    .take(),
                home);
         });
}

// On the owner: the change goes to the store behind every message of the room sequenced before
// it (this turn's batch is handed over first; the writer applies changes after the messages it
// commits with them); once applied, its frame goes out on the room's channel, behind theirs.
void ClusterOwner::ownerChange(std::size_t home, const cluster::Envelope& e) {
  auto& s = shards_[home];
  std::uint64_t edit = 0, id = 0, flags = 0, request = 0;
  if (!e.number(1, edit) || !e.number(2, id) || !e.number(4, flags) || !e.number(7, request) ||
      e.field(6).empty()) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string room(e.field(0));
  const std::string origin(e.field(6));
  auto answer = [this, home, room, origin, request](EditOutcome outcome) {
    send(origin,
         cluster::EnvelopeWriter(kChangeOutcome)
             .add(room)
             .add(request)
             .add(static_cast<std::uint64_t>(outcome))
             .take(),
         home);
  };
  if (!ownedHere(room)) return answer(EditOutcome::StoreUnavailable);
  store::MessageChange c;
  c.kind = edit ? store::MessageChange::Kind::Edit : store::MessageChange::Kind::Delete;
  c.room = room;
  c.id = id;
  c.actor = e.field(3);
  c.actorSignedIn = (flags & 1u) != 0;
  c.moderator = moderation_.mayModerate(
      Actor{std::string(e.field(3)), (flags & 1u) != 0, (flags & 2u) != 0}, room);
  c.content = e.field(5);
  c.unixMillis = env_.unixClock();
  if (!s.toStore.empty()) flushToStore(home);
  std::vector<store::MessageChange> changes;
  changes.push_back(std::move(c));
  env_.writer->submitChanges(
      std::move(changes),
      [this, home, answer = std::move(answer)](
          const store::StoreStatus& status, std::vector<store::MessageChange>&& applied) mutable {
        env_.post(home, [this, status, applied = std::move(applied),
                         answer = std::move(answer)]() mutable {
          using Outcome = store::MessageChange::Outcome;
          const store::MessageChange* c = applied.empty() ? nullptr : &applied.front();
          const EditOutcome outcome = !status.ok || !c ? EditOutcome::StoreUnavailable
                                      : c->outcome == Outcome::Applied  ? EditOutcome::Applied
                                      : c->outcome == Outcome::NotFound ? EditOutcome::NotFound
                                                                        : EditOutcome::NotAllowed;
          if (outcome == EditOutcome::Applied)
            broadcast(c->room,
                      cluster::EnvelopeWriter(kChanged)
                          .add(c->room)
                          .add(c->kind == store::MessageChange::Kind::Edit
                                   ? buildEditedJson(c->id, c->content, c->unixMillis, c->room)
                                   : buildDeletedJson(c->id, c->room))
                          .add(c->id)
                          .take());
          answer(outcome);
        });
      });
}

// ---- the owner half ------------------------------------------------------------------------

ClusterOwner::OwnedRoom* ClusterOwner::ownedRoom(std::size_t home, const std::string& room,
                                                 bool create) {
  auto& s = shards_[home];
  auto it = s.owned.find(room);
  if (it != s.owned.end()) return &it->second;
  if (!create) return nullptr;
  OwnedRoom& o = s.owned.try_emplace(room).first->second;
  const std::size_t bucket = leases_.bucketOf(room);
  // This instance remembers the room's client_ids only since it took the bucket: older ones the
  // store is asked about (a retry of a send stored by the previous owner).
  o.rememberingSinceMs = std::max(startedMs_, bucketSinceMs_[bucket].load());
  // A room first seen within the rebuild window after the bucket was taken: its presence is
  // being announced again by every relay; it goes out whole when the window ends.
  if (env_.unixClock() < o.rememberingSinceMs + options_.presenceRebuildMs)
    o.rebuildUntilMs = o.rememberingSinceMs + options_.presenceRebuildMs;
  return &o;
}

void ClusterOwner::fromInbox(std::size_t home, const cluster::Envelope& e) {
  auto& s = shards_[home];
  const std::string room(e.field(0));
  switch (e.kind) {
    case kSend: {
      Sequenced q;
      q.room = room;
      q.username = e.field(1);
      q.content = e.field(2);
      q.clientId = e.field(3);
      q.origin = e.field(4);
      std::uint64_t flags = 0;
      if (!e.number(5, q.request) || !e.number(6, flags) || q.username.empty() || q.origin.empty())
        break;
      q.signedIn = (flags & 1u) != 0;
      q.wantsAck = (flags & 2u) != 0;
      ownerPublish(home, std::move(q));
      return;
    }
    case kAnnounce:
      if (e.field(1).empty() || e.field(2).empty()) break;
      ownerAnnounce(home, room, std::string(e.field(1)), std::string(e.field(2)),
                    e.field(3) == "1");
      return;
    case kTypingIn:
      if (e.field(1).empty()) break;
      ownerTyping(home, room, std::string(e.field(1)), e.field(2) == "1");
      return;
    case kQuery: {
      std::uint64_t request = 0;
      if (e.field(1).empty() || !e.number(2, request)) break;
      if (!ownedHere(room)) return;  // not ours (any more): the asker times out, falls back
      std::vector<std::string> users;
      Frame frame = ownerPresence(home, room, &users);
      std::string joined;
      for (const auto& u : users) (joined += u) += '\n';
      send(std::string(e.field(1)),
           cluster::EnvelopeWriter(kQueryAnswer, 64 + frame->bytes.size() + joined.size())
               .add(room)
               .add(request)
               .add(ownedRoom(home, room, true)->presence.presenceJson(room, env_.options.presence))
               .add(joined)
               .take(),
           home);
      return;
    }
    case kDuplicate: {
      std::uint64_t request = 0, id = 0;
      if (!e.number(1, request)) break;
      e.number(3, id);
      if (!s.sends.count(request)) return;  // timed out already
      // Without its id, as the single server answers a duplicate (the sender's catch-up filter
      // must not drop it).
      finishSend(
          home, request, {PublishResult::Outcome::Duplicate, id},
          std::make_shared<const WireFrame>(WireFrame{env_.encode(e.field(2), 0)->bytes, 0, {}}));
      return;
    }
    case kRefused: {
      std::uint64_t request = 0;
      if (!e.number(1, request)) break;
      auto it = s.sends.find(request);
      if (it == s.sends.end()) return;
      if (e.field(2) == "cluster_unavailable") unavailable_.fetch_add(1, std::memory_order_relaxed);
      finishSend(home, request, {PublishResult::Outcome::StoreUnavailable, 0},
                 errorFrame(e.field(2), e.field(3), it->second.clientId, room));
      return;
    }
    case kAck: {
      std::uint64_t request = 0, id = 0;
      if (!e.number(1, request) || !e.number(2, id)) break;
      settleSend(home, request, id);
      return;
    }
    case kChange:
      ownerChange(home, e);
      return;
    case kChangeOutcome: {
      std::uint64_t request = 0, outcome = 0;
      if (!e.number(1, request) || !e.number(2, outcome) ||
          outcome > static_cast<std::uint64_t>(EditOutcome::NoStore))
        break;
      auto it = s.changes.find(request);
      if (it == s.changes.end()) return;
      env_.post(it->second.shard, [done = std::move(it->second.done),
                                   result = static_cast<EditOutcome>(outcome)] { done(result); });
      s.changes.erase(it);
      return;
    }
    case kQueryAnswer: {
      std::uint64_t request = 0;
      if (!e.number(1, request)) break;
      auto q = s.queries.find(request);
      if (q == s.queries.end()) return;
      if (!q->second.done) {
        // A join's query: the frame goes into the waiting join.
        if (auto r = s.relays.find(room); r != s.relays.end()) {
          for (auto& w : r->second.joins)
            if (w.query == request) w.presence = env_.encode(e.field(2), 0);
          s.queries.erase(q);
          advanceJoins(home, room, r->second);
        } else {
          s.queries.erase(q);
        }
        return;
      }
      std::vector<std::string> users;
      std::string_view list = e.field(3);
      for (std::size_t at = 0; at < list.size();) {
        const std::size_t nl = list.find('\n', at);
        if (nl == std::string_view::npos) break;
        users.emplace_back(list.substr(at, nl - at));
        at = nl + 1;
      }
      env_.post(q->second.shard, [done = std::move(q->second.done),
                                  users = std::move(users)]() mutable { done(std::move(users)); });
      s.queries.erase(q);
      return;
    }
    default:
      break;
  }
  malformed_.fetch_add(1, std::memory_order_relaxed);
}

Frame ClusterOwner::ownerPresence(std::size_t home, const std::string& room,
                                  std::vector<std::string>* users) {
  OwnedRoom* o = ownedRoom(home, room, true);
  if (users) *users = o->presence.users();
  return env_.encode(o->presence.presenceJson(room, env_.options.presence), 0);
}

void ClusterOwner::ownerAnnounce(std::size_t home, const std::string& room,
                                 const std::string& username, const std::string& instance,
                                 bool present) {
  if (!ownedHere(room)) return;  // its relays announce again to whoever takes the bucket
  OwnedRoom& o = *ownedRoom(home, room, true);
  auto& where = o.userInstances[username];
  const auto found = std::find(where.begin(), where.end(), instance);
  bool changed = false;
  if (present && found == where.end()) {
    where.push_back(instance);
    changed = o.presence.addConnection(username);
  } else if (!present && found != where.end()) {
    where.erase(found);
    const bool wasTyping = o.presence.isTyping(username);
    changed = o.presence.removeConnection(username);
    if (changed && wasTyping) {
      o.presence.setTyping(username, false, env_.unixClock(), env_.options.presence);
      broadcast(
          room,
          cluster::EnvelopeWriter(kTyping).add(room).add(username).add(std::uint64_t{0}).take());
    }
  }
  if (where.empty()) o.userInstances.erase(username);
  if (!changed || o.rebuildUntilMs > 0) return;  // while rebuilding, the whole list goes out later
  if (o.presence.summarised(env_.options.presence) ||
      (!present && o.presence.userCount() >= env_.options.presence.cap)) {
    present ? o.presence.countJoin() : o.presence.countLeave();
    return;
  }
  broadcast(room, cluster::EnvelopeWriter(present ? kJoin : kLeave)
                      .add(room)
                      .add(username)
                      .add(static_cast<std::uint64_t>(env_.unixClock()))
                      .take());
}

void ClusterOwner::ownerTyping(std::size_t home, const std::string& room,
                               const std::string& username, bool state) {
  if (!ownedHere(room)) return;
  OwnedRoom* o = ownedRoom(home, room, false);
  if (!o || o->presence.empty()) return;
  if (o->presence.setTyping(username, state, env_.unixClock(), env_.options.presence))
    broadcast(room, cluster::EnvelopeWriter(kTyping)
                        .add(room)
                        .add(username)
                        .add(std::uint64_t{state ? 1u : 0u})
                        .take());
}

void ClusterOwner::refuse(std::size_t home, const Sequenced& q, std::string_view code,
                          std::string_view message) {
  send(q.origin,
       cluster::EnvelopeWriter(kRefused).add(q.room).add(q.request).add(code).add(message).take(),
       home);
}

void ClusterOwner::ownerPublish(std::size_t home, Sequenced q) {
  auto& s = shards_[home];
  if (!ownedHere(q.room)) return refuse(home, q, "cluster_unavailable", kUnavailable);
  OwnedRoom& o = *ownedRoom(home, q.room, true);
  q.unixMillis = env_.unixClock();
  if (o.presence.isTyping(q.username)) {
    // A message ends typing; the others see that first.
    o.presence.setTyping(q.username, false, q.unixMillis, env_.options.presence);
    broadcast(
        q.room,
        cluster::EnvelopeWriter(kTyping).add(q.room).add(q.username).add(std::uint64_t{0}).take());
  }
  if (!q.clientId.empty()) {
    const DuplicateLimits& limits = env_.options.duplicates;
    const std::string key = DuplicateWindow::key(q.username, q.clientId);
    if (const DuplicateWindow::Sent* seen = o.recent.find(key, q.unixMillis, limits)) {
      // The original to the sender alone: now, or once it is back from the store (the retry's
      // sender waits for an answer to its own request, whatever reaches the room).
      duplicates_.fetch_add(1, std::memory_order_relaxed);
      if (seen->frame) {
        send(q.origin,
             cluster::EnvelopeWriter(kDuplicate)
                 .add(q.room)
                 .add(q.request)
                 .add(seen->frame->bytes)
                 .add(seen->frame->messageId)
                 .take(),
             home);
      } else if (auto& waiting = o.awaiting[key]; waiting.size() < kMaxAwaiting) {
        waiting.emplace_back(q.origin, q.request);
      }
      return;
    }
    o.recent.remember(key, q.unixMillis, limits);
    q.checkClientIdSince =
        DuplicateWindow::storeCheckSince(q.unixMillis, o.rememberingSinceMs, &o.recent, limits);
  }
  ++o.inFlight;
  s.toStore.push_back(std::move(q));
  if (!s.storeFlushPosted) {
    s.storeFlushPosted = true;
    env_.post(home, [this, home] { flushToStore(home); });
  }
}

void ClusterOwner::flushToStore(std::size_t home) {
  auto& s = shards_[home];
  s.storeFlushPosted = false;
  if (s.toStore.empty()) return;
  std::vector<store::StoredMessage> messages(s.toStore.size());
  for (std::size_t i = 0; i < s.toStore.size(); ++i) {
    const Sequenced& q = s.toStore[i];
    store::StoredMessage& m = messages[i];
    m.room = q.room;
    m.username = q.username;
    m.content = q.content;
    m.clientId = q.clientId;
    m.unixMillis = q.unixMillis;
    m.checkClientIdSince = q.checkClientIdSince;
    m.signedIn = q.signedIn;
  }
  env_.writer->submit(std::move(messages), [this, home, sent = std::exchange(s.toStore, {})](
                                               const store::StoreStatus& status,
                                               std::vector<store::StoredMessage>&& stored) mutable {
    if (stored_[home].push(Stored{status, std::move(stored), std::move(sent)}))
      env_.post(home, [this, home] { drainStored(home); });
  });
}

void ClusterOwner::drainStored(std::size_t home) {
  Outgoing out;
  for (Stored& result : stored_[home].take()) onStored(home, result, out);
  // A commit's messages of one room go out as ONE Redis message: the relays fan them out in one
  // turn, so each member gets them in one write (corking), as a single server's commit does.
  // (One SPUBLISH per message: fanout on one --cluster instance at 0.55-0.65x of one without.
  // One per submission: a lingering commit of 80 reached the relays as 32 + 48, two writes per
  // member: 51 deliveries per read against 80.)
  for (auto& [room, packed] : out.batches)
    broadcast(room,
              cluster::EnvelopeWriter(kBatch, 16 + packed.size()).add(room).add(packed).take());
  for (auto& [origin, ack] : out.acks) send(origin, std::move(ack), home);
}

void ClusterOwner::onStored(std::size_t home, Stored& result, Outgoing& out) {
  auto& s = shards_[home];
  const store::StoreStatus& status = result.status;
  const std::vector<store::StoredMessage>& stored = result.messages;
  std::vector<Sequenced>& sent = result.sent;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    Sequenced& q = sent[i];
    OwnedRoom* o = ownedRoom(home, q.room, false);
    if (o) --o->inFlight;
    const std::string key =
        q.clientId.empty() ? std::string() : DuplicateWindow::key(q.username, q.clientId);
    // Retries that came while this send was on its way to the store (answered below).
    std::vector<std::pair<std::string, std::uint64_t>> waiting;
    if (o && !key.empty())
      if (auto w = o->awaiting.find(key); w != o->awaiting.end()) {
        waiting = std::move(w->second);
        o->awaiting.erase(w);
      }
    if (!status.ok || i >= stored.size()) {
      storeRefusals_.fetch_add(1, std::memory_order_relaxed);
      if (o && !key.empty()) o->recent.forget(key);  // a retry must be able to go through
      const char* why = "the message could not be stored and was not delivered; send it again";
      refuse(home, q, "store_unavailable", why);
      for (const auto& [origin, request] : waiting) {
        Sequenced retry = q;
        retry.origin = origin;
        retry.request = request;
        refuse(home, retry, "store_unavailable", why);
      }
      continue;
    }
    const store::StoredMessage& m = stored[i];
    std::string json;
    json.reserve(112 + m.room.size() + m.username.size() + m.content.size());
    appendMessageJson(json, chatMessageOf(m));
    // The cluster owner's remembered "frame" is the original's JSON, what a duplicate's answer
    // carries through Redis (this owner never fans a frame out itself).
    if (o && !key.empty())
      o->recent.setFrame(key, std::make_shared<const WireFrame>(WireFrame{json, m.id, {}}));
    auto original = [&](const std::string& origin, std::uint64_t request) {
      send(origin,
           cluster::EnvelopeWriter(kDuplicate).add(q.room).add(request).add(json).add(m.id).take(),
           home);
    };
    for (const auto& [origin, request] : waiting) original(origin, request);
    if (m.duplicate) {
      // Stored before this owner's memory began (a previous owner, a restart): the original
      // back to the sender alone.
      duplicates_.fetch_add(1, std::memory_order_relaxed);
      original(q.origin, q.request);
      continue;
    }
    s.sequenced.fetch_add(1, std::memory_order_relaxed);
    // (Indexed: a drain of the rooms scenario holds hundreds of rooms.)
    auto [at, added] = out.batchOf.try_emplace(q.room, out.batches.size());
    if (added) out.batches.emplace_back(q.room, std::string());
    cluster::packEnvelope(out.batches[at->second].second,
                          cluster::EnvelopeWriter(kMessage, 64 + json.size())
                              .add(q.room)
                              .add(m.id)
                              .add(json)
                              .add(q.origin)
                              .add(q.request)
                              .bytes());
    // The server API's publish: its instance may have no member here to see the frame.
    if (q.wantsAck)
      out.acks.emplace_back(
          q.origin, cluster::EnvelopeWriter(kAck).add(q.room).add(q.request).add(m.id).take());
  }
}

// ---- events from the cluster side ---------------------------------------------------------

void ClusterOwner::onLinkState(bool up) {
  const bool was = linkUp_.exchange(up);
  if (!up || was) return;
  // Back: whatever was published or announced meanwhile may be lost. Every relay tells the
  // owners again who is here and re-reads its rooms; every owned room rebuilds its presence.
  onEveryShard([this](std::size_t shard) {
    auto& s = shards_[shard];
    const std::int64_t until = env_.unixClock() + options_.presenceRebuildMs;
    for (auto& [room, o] : s.owned) {
      o = OwnedRoom{};
      o.rememberingSinceMs = std::max(startedMs_, bucketSinceMs_[leases_.bucketOf(room)].load());
      o.rebuildUntilMs = until;
      rebuilds_.fetch_add(1, std::memory_order_relaxed);
    }
    for (auto& [room, r] : s.relays) {
      for (const auto& [user, n] : r.users) announce(shard, room, user, true);
      if (r.lastKnown) readStore(shard, room, r);
    }
  });
}

void ClusterOwner::onOwnership(std::size_t bucket, bool held) {
  if (held) {
    bucketSinceMs_[bucket].store(env_.unixClock());
    bucketsGained_.fetch_add(1, std::memory_order_relaxed);
    // The store writer may remember the rooms' last ids from an earlier time this instance held
    // the bucket; the owner in between wrote more. Forget them, so the first commit reads them.
    env_.writer->forgetLastIds();
  }
  onEveryShard([this, bucket, held](std::size_t shard) {
    auto& s = shards_[shard];
    for (auto it = s.owned.begin(); it != s.owned.end();) {
      if (leases_.bucketOf(it->first) != bucket || (held && it->second.inFlight > 0)) {
        ++it;
        continue;
      }
      // Lost: another owner keeps the room now. Gained: start from the relays' announcements.
      if (it->second.inFlight > 0) {
        ++it;
        continue;
      }
      it = s.owned.erase(it);
    }
  });
}

void ClusterOwner::onOwnerChanged(std::size_t bucket, const std::string& owner) {
  (void)owner;
  onEveryShard([this, bucket](std::size_t shard) {
    auto& s = shards_[shard];
    releaseOwnerless(shard);  // sends waiting for an owner: one may be known now
    for (auto& [room, r] : s.relays) {
      if (leases_.bucketOf(room) != bucket) continue;
      // The new owner learns who is here; what the old one stored but never published is read.
      for (const auto& [user, n] : r.users) announce(shard, room, user, true);
      if (r.lastKnown) readStore(shard, room, r);
    }
  });
}

void ClusterOwner::onInstancesGone(const std::vector<std::string>& gone) {
  std::unordered_set<std::string> set(gone.begin(), gone.end());
  set.erase(self_);
  if (set.empty()) return;
  onEveryShard([this, set](std::size_t shard) { removeInstances(shard, set); });
}

void ClusterOwner::removeInstances(std::size_t home, const std::unordered_set<std::string>& gone) {
  auto& s = shards_[home];
  for (auto& [room, o] : s.owned) {
    std::vector<std::pair<std::string, std::string>> leaving;
    for (const auto& [user, where] : o.userInstances)
      for (const auto& instance : where)
        if (gone.count(instance)) leaving.emplace_back(user, instance);
    for (const auto& [user, instance] : leaving) ownerAnnounce(home, room, user, instance, false);
  }
}

// ---- the tick ------------------------------------------------------------------------------

void ClusterOwner::tick(std::size_t shard) {
  auto& s = shards_[shard];
  const std::int64_t steady = env_.steadyClock();
  const std::int64_t now = env_.unixClock();

  std::vector<std::uint64_t> late;
  for (const auto& [request, p] : s.sends)
    if (steady >= p.deadlineMs) late.push_back(request);
  for (std::uint64_t request : late) sendUnavailable(shard, request);
  // After the deadlines above (a timed-out send is not handed on): an owner may be known now
  // without a change event (a restarted link).
  releaseOwnerless(shard);
  for (auto it = s.changes.begin(); it != s.changes.end();) {
    if (steady < it->second.deadlineMs) {
      ++it;
      continue;
    }
    env_.post(it->second.shard,
              [done = std::move(it->second.done)] { done(EditOutcome::StoreUnavailable); });
    it = s.changes.erase(it);
  }
  for (auto it = s.queries.begin(); it != s.queries.end();) {
    if (steady < it->second.deadlineMs || !it->second.done) {
      ++it;
      continue;
    }
    // No answer: nobody known here (the REST presence asks again later).
    env_.post(it->second.shard,
              [done = std::move(it->second.done)]() mutable { done(std::vector<std::string>{}); });
    it = s.queries.erase(it);
  }
  for (auto& [room, r] : s.relays) {
    if (!r.typingUntil.empty()) {
      std::vector<std::string> ended;
      for (const auto& [user, until] : r.typingUntil)
        if (steady >= until) ended.push_back(user);
      for (const auto& user : ended) relayTyping(shard, room, r, user, false);
    }
    if (!r.joins.empty()) advanceJoins(shard, room, r);
    if (r.subscribed &&
        (r.readAgain || (r.gapSinceMs > 0 && steady - r.gapSinceMs >= options_.gapWaitMs)))
      readStore(shard, room, r);
  }
  for (auto it = s.owned.begin(); it != s.owned.end();) {
    OwnedRoom& o = it->second;
    const std::string& room = it->first;
    if (o.rebuildUntilMs > 0 && now >= o.rebuildUntilMs) {
      o.rebuildUntilMs = 0;
      rebuilds_.fetch_add(1, std::memory_order_relaxed);
      broadcast(room, cluster::EnvelopeWriter(kPresence)
                          .add(room)
                          .add(o.presence.presenceJson(room, env_.options.presence))
                          .take());
    }
    for (const auto& user : o.presence.expireTyping(now))
      broadcast(room,
                cluster::EnvelopeWriter(kTyping).add(room).add(user).add(std::uint64_t{0}).take());
    if (o.presence.summaryDue(now))
      broadcast(room, cluster::EnvelopeWriter(kPresence)
                          .add(room)
                          .add(o.presence.takeSummaryJson(room, now))
                          .take());
    o.recent.forgetExpired(now, env_.options.duplicates);
    if (o.presence.empty() && o.recent.empty() && o.inFlight == 0 && o.rebuildUntilMs == 0)
      it = s.owned.erase(it);
    else
      ++it;
  }
}

}  // namespace parley::chat
