// RoomQueries: the questions asked of the rooms outside a conversation's live traffic: a page
// of a room's history (a client's {"type":"history"}, GET /api/rooms/{room}/messages) and the
// room list with member counts (GET /api/rooms). Reads run on the store's reader thread; member
// counts are gathered from each shard's own registry, one shard after the other, so no count is
// shared between threads (no lock). Answers run on the asking shard. Never changes a room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::chat {

struct HubEnvironment;
class RoomRegistry;

// The answer to a paging request: ok, the page (oldest first), and whether older ones exist.
struct HistoryPage {
  bool ok = true;
  std::string error;
  std::string json;  // the messages as a JSON array
  bool hasMore = false;
};

struct RoomInfo {
  std::string room;
  std::size_t members = 0;  // connections
  std::uint64_t lastId = 0;
  bool isPrivate = false;  // a registered private room (filled in by the REST route)
  std::string with;        // a direct-message room: the other member, for the asking user
};

class RoomQueries {
 public:
  RoomQueries(const HubEnvironment& env, RoomRegistry& registry);

  // A page of `room` older than `before` (0: the newest), at most `limit`; `done` runs on
  // `shard` (at once when there is nothing to read: no store, or the reader's queue is full).
  void history(std::size_t shard, const std::string& room, std::uint64_t before, std::size_t limit,
               std::function<void(HistoryPage)> done);

  // Rooms with members or with stored messages (most recently active first, at most `limit`
  // from the store; `ok` false when the store could not list them); `done` runs on `shard`.
  void listRooms(std::size_t shard, std::size_t limit,
                 std::function<void(bool ok, std::vector<RoomInfo>)> done);

 private:
  using Counts = std::unordered_map<std::string, std::size_t>;
  // Adds shard `at`'s member counts, then goes on to the next shard; back on `shard` (`at` has
  // come round to it), lists the rooms.
  void gatherCounts(std::size_t shard, std::size_t at, std::size_t limit, Counts counts,
                    std::function<void(bool, std::vector<RoomInfo>)> done);
  void listWithCounts(std::size_t shard, std::size_t limit, Counts counts,
                      std::function<void(bool, std::vector<RoomInfo>)> done);

  const HubEnvironment& env_;
  RoomRegistry& registry_;
};

}  // namespace parley::chat
