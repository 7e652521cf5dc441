#include "chat/RateBucketTable.h"

#include <algorithm>
#include <functional>
#include <random>

namespace parley::chat {

namespace {

constexpr std::uint64_t kMilli = 1000;  // a token, in the thousandths the bucket counts

// splitmix64's finalizer: spreads the seeded string hash over the low bits the slot uses.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

RateBucketTable::RateBucketTable(double ratePerSecond, double burst)
    : words_(std::make_unique<std::atomic<std::uint64_t>[]>(kSlots)),
      milliTokensPerMs_(ratePerSecond),
      burstMilli_(static_cast<std::uint32_t>(
          std::clamp(burst * static_cast<double>(kMilli), static_cast<double>(kMilli), 4.0e9))),
      seed_((static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()) {}

std::uint32_t RateBucketTable::slotOf(std::string_view key) const {
  return static_cast<std::uint32_t>(mix(std::hash<std::string_view>{}(key) ^ seed_) & (kSlots - 1));
}

bool RateBucketTable::take(std::uint32_t slot, std::int64_t nowMs) {
  if (slot >= kSlots) return true;
  std::atomic<std::uint64_t>& word = words_[slot];
  const auto now32 = static_cast<std::uint32_t>(nowMs);
  std::uint64_t old = word.load(std::memory_order_relaxed);
  for (;;) {
    const auto last = static_cast<std::uint32_t>(old >> 32);
    const auto debt = static_cast<std::uint32_t>(old);
    const double repaid = static_cast<double>(now32 - last) * milliTokensPerMs_;
    const std::uint64_t left =
        repaid >= static_cast<double>(debt) ? 0 : debt - static_cast<std::uint32_t>(repaid);
    if (left + kMilli > burstMilli_) return false;  // empty: nothing written, the debt stands
    const std::uint64_t next = (static_cast<std::uint64_t>(now32) << 32) | (left + kMilli);
    if (word.compare_exchange_weak(old, next, std::memory_order_relaxed)) return true;
  }
}

void RateBucketTable::refund(std::uint32_t slot) {
  if (slot >= kSlots) return;
  std::atomic<std::uint64_t>& word = words_[slot];
  std::uint64_t old = word.load(std::memory_order_relaxed);
  for (;;) {
    const auto debt = static_cast<std::uint32_t>(old);
    const std::uint64_t next = (old & ~0xffffffffULL) | (debt >= kMilli ? debt - kMilli : 0);
    if (word.compare_exchange_weak(old, next, std::memory_order_relaxed)) return;
  }
}

}  // namespace parley::chat
