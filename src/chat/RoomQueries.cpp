#include "chat/RoomQueries.h"

#include <utility>

#include "chat/HistoryJson.h"
#include "chat/HubEnvironment.h"
#include "chat/RoomRegistry.h"
#include "store/StoreReader.h"

namespace parley::chat {

RoomQueries::RoomQueries(const HubEnvironment& env, RoomRegistry& registry)
    : env_(env), registry_(registry) {}

void RoomQueries::history(std::size_t shard, const std::string& room, std::uint64_t before,
                          std::size_t limit, std::function<void(HistoryPage)> done) {
  if (!env_.reader) {
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
      page.json = messagesArrayJson(messages, from, messages.size());
    }
    env_.post(shard, [done, page = std::move(page)]() mutable { done(std::move(page)); });
  };
  if (!env_.reader->submit(std::move(job))) {
    HistoryPage page;
    page.ok = false;
    page.error = "the server is too busy to read history";
    done(std::move(page));
  }
}

void RoomQueries::listRooms(std::size_t shard, std::size_t limit,
                            std::function<void(bool ok, std::vector<RoomInfo>)> done) {
  // The members of a room are counted where they live: each shard adds its own, in turn. (A
  // snapshot every shard wrote to needed a mutex on the join path; this costs one hop per shard,
  // only when the list is asked for.)
  gatherCounts(shard, shard, limit, Counts{}, std::move(done));
}

void RoomQueries::gatherCounts(std::size_t shard, std::size_t at, std::size_t limit, Counts counts,
                               std::function<void(bool, std::vector<RoomInfo>)> done) {
  registry_.countMembers(at, counts);
  const std::size_t next = (at + 1) % env_.shardCount;
  if (next == shard) return listWithCounts(shard, limit, std::move(counts), std::move(done));
  env_.post(next, [this, shard, next, limit, counts = std::move(counts),
                   done = std::move(done)]() mutable {
    gatherCounts(shard, next, limit, std::move(counts), std::move(done));
  });
}

void RoomQueries::listWithCounts(std::size_t shard, std::size_t limit, Counts counts,
                                 std::function<void(bool, std::vector<RoomInfo>)> done) {
  auto merge = [](Counts members, const std::vector<store::RoomSummary>& stored) {
    std::vector<RoomInfo> rooms;
    for (const auto& s : stored) {
      auto it = members.find(s.room);
      rooms.push_back({s.room, it == members.end() ? 0 : it->second, s.lastId, false, {}});
      if (it != members.end()) members.erase(it);
    }
    for (auto& [room, n] : members) rooms.push_back({room, n, 0, false, {}});
    return rooms;
  };
  if (!env_.reader) return done(true, merge(std::move(counts), {}));
  auto job = [this, shard, limit, counts, done, merge](store::MessageStore& store) mutable {
    std::vector<store::RoomSummary> stored;
    const bool ok = store.rooms(limit, stored).ok;
    auto rooms = merge(std::move(counts), stored);
    env_.post(shard,
              [done, ok, rooms = std::move(rooms)]() mutable { done(ok, std::move(rooms)); });
  };
  if (!env_.reader->submit(std::move(job))) done(false, {});
}

}  // namespace parley::chat
