// RateBucketTable: token buckets shared by every shard, for the message rate limits that span
// connections (per user, per client address). A fixed-size table of atomic words keyed by a
// seeded hash: bounded memory whatever the number of users or addresses, no mutex and no
// allocation on the message path (one relaxed load and one compare-and-swap per sent message).
// Never blocks, never grows, never forgets a key on purpose (a key is only its slot).
//
// Collisions: two keys that hash to the same slot share one bucket. That can only make them
// refused sooner when both send near the limit at the same moment (most users send far below
// it); it never lets anyone send more. The hash is seeded per process, so which names share a
// slot cannot be chosen from outside (short of a full 64-bit collision of the string hash).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace parley::chat {

class RateBucketTable {
 public:
  // 2^17 slots of 8 bytes: 1 MiB per table. With 100,000 keys active at once, a key shares its
  // slot with another about half the time, which matters only if both are at the limit together.
  static constexpr std::uint32_t kSlots = 1u << 17;
  static constexpr std::uint32_t kNoSlot = 0xffffffffu;  // not limited (e.g. address unknown)

  // `ratePerSecond` tokens come back per second, up to `burst` (both > 0; burst at most ~4
  // million: the bucket counts thousandths of a token in 32 bits).
  RateBucketTable(double ratePerSecond, double burst);

  // The slot of `key` (a user name, an address's bytes): computed once per connection where it
  // can be, so the message path only indexes.
  std::uint32_t slotOf(std::string_view key) const;
  // Takes one token from `slot` at steady millisecond `nowMs`; false (nothing taken) when empty.
  bool take(std::uint32_t slot, std::int64_t nowMs);
  // Gives back a token taken by take() when a later limit refused the same message: a message
  // refused by one limit costs nothing against the others.
  void refund(std::uint32_t slot);

 private:
  // One word per bucket: the high 32 bits are the steady time of the last take in milliseconds
  // (modulo 2^32: a bucket untouched for a multiple of ~49.7 days may look recently used, which
  // costs at most one burst's refill time once), the low 32 bits the debt in thousandths of a
  // token (0: full). A zeroed table is all full buckets.
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
  double milliTokensPerMs_;  // = tokens per second
  std::uint32_t burstMilli_;
  std::uint64_t seed_;
};

}  // namespace parley::chat
