#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "net/SessionPool.h"

namespace parley::net {
namespace {

TEST(BlockPool, BlocksAreDistinctAlignedAndReused) {
  BlockPool pool(40);  // rounded up to 48: a multiple of max_align_t's alignment
  std::vector<void*> blocks;
  std::set<std::uintptr_t> seen;
  // More than one 64 KiB chunk's worth.
  for (int i = 0; i < 3000; ++i) {
    void* b = pool.allocate();
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(b) % alignof(std::max_align_t), 0u);
    std::memset(b, 0xab, 40);  // writable, whole
    EXPECT_TRUE(seen.insert(reinterpret_cast<std::uintptr_t>(b)).second) << "handed out twice";
    blocks.push_back(b);
  }
  for (void* b : blocks) pool.deallocate(b);
  // Freed blocks come back before any new chunk is taken.
  for (int i = 0; i < 3000; ++i)
    EXPECT_TRUE(seen.count(reinterpret_cast<std::uintptr_t>(pool.allocate())));
}

struct Tracked : std::enable_shared_from_this<Tracked> {
  explicit Tracked(int& alive) : alive_(alive) { ++alive_; }
  ~Tracked() { --alive_; }
  int& alive_;
  char payload[200] = {};
};

TEST(PooledAllocator, SharedObjectsLiveAndDieAsWithMakeShared) {
  int alive = 0;
  std::weak_ptr<Tracked> watch;
  {
    std::vector<std::shared_ptr<Tracked>> v;
    for (int i = 0; i < 1000; ++i)
      v.push_back(std::allocate_shared<Tracked>(PooledAllocator<Tracked>(), alive));
    EXPECT_EQ(alive, 1000);
    EXPECT_EQ(v[7]->shared_from_this(), v[7]);
    watch = v[3];
  }
  EXPECT_EQ(alive, 0);
  EXPECT_TRUE(watch.expired());  // the control block outlived the object, as it must
}

}  // namespace
}  // namespace parley::net
