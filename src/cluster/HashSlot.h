// HashSlot: the Redis Cluster slot of a key or sharded channel, exactly as Redis computes it:
// CRC16 (XMODEM) of the key, or of the text inside its first non-empty {hash tag}, mod 16384.
// Pure function; it must never disagree with CLUSTER KEYSLOT (tests compare them).
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::cluster {

inline constexpr std::uint16_t kSlotCount = 16384;

std::uint16_t hashSlot(std::string_view key);

}  // namespace parley::cluster
