// DuplicateLimits: how long, and how many per room, a (user, client_id) send is remembered so
// that a retry is answered with the original instead of being stored twice (DuplicateWindow).
// A plain value in HubOptions, read by both room owners; never changed while serving.
#pragma once

#include <cstddef>
#include <cstdint>

namespace parley::chat {

struct DuplicateLimits {
  std::int64_t windowMs = 10 * 60 * 1000;  // a client_id is remembered this long
  std::size_t perRoom = 1000;              // ... and at most this many per room
};

}  // namespace parley::chat
