// MembershipBatcher: join/leave events wait per room and shard and leave as one batch, so that a
// crowd arriving costs each member one write a second instead of one per newcomer. Holds the
// waiting changes as compact records (not frames), decides when a room's batch leaves (250 ms
// after a quiet room's change, 1 s in a busy one, at once ahead of the room's next other frame,
// at once past 64 KiB) and turns records into frames, up to 16 changes per frame, shared by the
// room's members. A member still catching up gets each change at once instead (it leaves with
// its history). Runs on each shard for that shard's members only; never reorders a room's events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::chat {

struct HubEnvironment;
struct LocalRoom;
class RoomRegistry;

enum class Membership : std::uint8_t { Join, Leave };

// One join or leave while it waits. Stored in PendingBatch::records as: the change (1 byte, the
// enum's value), the Unix milliseconds (8 bytes, native order: records never leave the process),
// the username's length (1 byte: names are at most 128 characters) and the username: ~20 bytes,
// a quarter of its frame (a crowd's batch waits up to a second).
struct MembershipRecord {
  Membership change = Membership::Join;
  std::int64_t unixMillis = 0;
  std::string_view username;  // into the records it was read from
};
void appendMembershipRecord(std::string& records, const MembershipRecord& record);
// The record that starts at `at` in `records`; `next` gets where the one after it starts.
MembershipRecord readMembershipRecord(std::string_view records, std::size_t at, std::size_t& next);

// A room's waiting changes on one shard, and what decides when they leave.
struct PendingBatch {
  std::string records;           // a member gets them from its batchFrom_ on
  std::int64_t dueMs = 0;        // when they leave (steady ms); 0 while there are none
  std::int64_t lastBatchMs = 0;  // when the previous batch left
  std::int64_t lastEventMs = 0;  // when the previous change reached the shard
};

class MembershipBatcher {
 public:
  // A room's change after a quiet second waits kBatchMs for company; one less than a second
  // after the room's previous change or batch waits kBatchRepeatMs (from the first of its batch).
  static constexpr std::int64_t kBatchMs = 250;
  static constexpr std::int64_t kBatchRepeatMs = 1000;
  // A wake-up sends every batch due within this much more, so a crowd's batches leave together a
  // few dozen times a second.
  static constexpr std::int64_t kBatchSlackMs = 25;
  // Changes per frame of a batch: a member added while the batch filled copies at most the frame
  // its part starts in (a crowd of 1,000: ~1 MB of copies, not ~38 MB).
  static constexpr std::size_t kBatchChunkRecords = 16;
  // Batches sent per loop turn; more that are due wait for the next turn, so a crowd's batches
  // (and the copies made for late joiners) are not all in memory at once (+2.4 MB of RSS when they
  // were).
  static constexpr std::size_t kBatchesPerTurn = 32;
  // A batch this big leaves at once (a reconnect storm in a room of 1,000).
  static constexpr std::size_t kBatchMaxBytes = 64 * 1024;

  explicit MembershipBatcher(const HubEnvironment& env);
  ~MembershipBatcher();
  MembershipBatcher(const MembershipBatcher&) = delete;
  MembershipBatcher& operator=(const MembershipBatcher&) = delete;

  // On `shard`: a change of `room` (one record) reached `local`, the room's members there.
  void add(std::size_t shard, const std::string& room, LocalRoom& local, std::string_view record);
  // On the room's shard: sends `local`'s waiting changes (of `room`) now (they are due, or
  // another frame of the room must not overtake them).
  void send(const std::string& room, LocalRoom& local, std::int64_t nowMs);
  // On `shard`: sends the batches of `rooms` there that are due at steady millisecond `nowMs`
  // (within kBatchSlackMs), at most kBatchesPerTurn (the rest in a task posted behind), and asks
  // for the next wake-up.
  void flushDue(std::size_t shard, std::int64_t nowMs, RoomRegistry& rooms);

  // The wire frames of `records` (changes of `room`), back to back; `marks` gets (record offset,
  // wire offset) of each record.
  std::string wire(std::string_view room, std::string_view records,
                   std::vector<std::pair<std::uint32_t, std::uint32_t>>* marks) const;

 private:
  struct Due {
    std::int64_t dueMs;
    std::string room;
  };
  // Rooms with a batch waiting, each list in order of due time (one fixed delay each). An entry
  // whose batch left early (a message took it along) is skipped: its dueMs no longer matches.
  struct alignas(64) ShardState {
    std::deque<Due> soon;     // kBatchMs
    std::deque<Due> repeat;   // kBatchRepeatMs
    std::int64_t wakeMs = 0;  // the wake-up asked for (0: none)
  };

  void askWake(std::size_t shard);

  const HubEnvironment& env_;
  std::unique_ptr<ShardState[]> shards_;
};

}  // namespace parley::chat
