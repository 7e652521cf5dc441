// CatchUp: what a joining member is sent before live traffic: its history (the room's last
// messages, or the replay of what it missed since `?since=`), then the presence list. The owner's
// seam decides where the read stops: every message above it reaches the member live (it holds
// them meanwhile), so the read and the live frames meet with no gap and no duplicate. Reads the
// store only when something lies between the member's `since` and the seam; most joins are
// answered on the member's shard. Never delivers live frames and never orders anything.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/Member.h"
#include "chat/RoomOwner.h"

namespace parley::chat {

struct HubEnvironment;

class CatchUp {
 public:
  explicit CatchUp(const HubEnvironment& env);

  // Whether a join with `since` needs the owner's seam (there is a store to read from, and the
  // member asked for a replay or the server sends history on join).
  bool needsSeam(std::optional<std::uint64_t> since) const;

  // On `shard`, the member's: the owner answered its join. Reads what the member still needs
  // (if anything) and ends its catch-up.
  void finish(std::size_t shard, const std::string& room, std::weak_ptr<Member> member,
              std::optional<std::uint64_t> since, JoinAnswer answer);

  // Any thread: catch-ups that read the store (the others had nothing to read).
  std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

 private:
  // The history frames of a catch-up below `seam`, read from the store on the reader thread.
  void read(std::size_t shard, const std::string& room, std::weak_ptr<Member> member,
            std::optional<std::uint64_t> since, Frame presence, std::uint64_t seam);
  // history_unavailable (about `room`), then the presence list.
  std::vector<Frame> failure(const std::string& room, const std::string& why,
                             const Frame& presence) const;
  // Ends the catch-up: the member sends `frames`, then its held frames above `coveredId`. On
  // the member's shard; every catch-up ends here, whichever way it went.
  static void end(const std::weak_ptr<Member>& member, std::vector<Frame> frames,
                  std::uint64_t coveredId);

  const HubEnvironment& env_;
  std::atomic<std::uint64_t> reads_{0};
};

}  // namespace parley::chat
