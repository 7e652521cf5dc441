// The shared message buckets (per user, per address): burst, refill, refund, independent slots,
// and no lost or extra tokens when several threads take from one bucket at once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "chat/RateBucketTable.h"

namespace parley::chat {
namespace {

int takeAll(RateBucketTable& t, std::uint32_t slot, std::int64_t now, int tries = 1000) {
  int n = 0;
  for (int i = 0; i < tries; ++i) n += t.take(slot, now) ? 1 : 0;
  return n;
}

TEST(RateBucketTable, BurstThenRefillAtTheRate) {
  RateBucketTable t(10, 20);
  const auto slot = t.slotOf("alice");
  EXPECT_EQ(takeAll(t, slot, 1'000'000), 20);  // a fresh bucket is full
  EXPECT_EQ(takeAll(t, slot, 1'000'500), 5);   // half a second: five more
  EXPECT_EQ(takeAll(t, slot, 1'000'600), 1);
  EXPECT_EQ(takeAll(t, slot, 1'010'000), 20);  // never more than the burst
}

TEST(RateBucketTable, RefundGivesATokenBack) {
  RateBucketTable t(1, 2);
  const auto slot = t.slotOf("bob");
  EXPECT_EQ(takeAll(t, slot, 5'000), 2);
  t.refund(slot);
  EXPECT_TRUE(t.take(slot, 5'000));
  EXPECT_FALSE(t.take(slot, 5'000));
}

TEST(RateBucketTable, KeysHaveTheirOwnBucketsAndNoSlotIsUnlimited) {
  RateBucketTable t(1, 2);
  std::uint32_t a = t.slotOf("carol"), b = t.slotOf("dave");
  for (int i = 0; a == b; ++i) b = t.slotOf("dave" + std::to_string(i));  // (2^-17 odds)
  EXPECT_EQ(takeAll(t, a, 7'000), 2);
  EXPECT_EQ(takeAll(t, b, 7'000), 2);
  EXPECT_EQ(takeAll(t, RateBucketTable::kNoSlot, 7'000, 100), 100);
  EXPECT_LT(t.slotOf("carol"), RateBucketTable::kSlots);
}

TEST(RateBucketTable, ConcurrentTakesNeitherLoseNorInventTokens) {
  RateBucketTable t(1, 1000);
  const auto slot = t.slotOf("shared");
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) threads.emplace_back([&] { taken += takeAll(t, slot, 42, 1000); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(taken.load(), 1000);
}

}  // namespace
}  // namespace parley::chat
