#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>

#include "app/FileTable.h"

namespace parley::app {
namespace {

std::size_t openDescriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(FileTable, GrowsToWhatIsAskedWithinTheLimitAndLeavesNothingOpen) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  // This test process already has threads, so the growth may wait for the kernel once; the
  // server does it before its first thread.
  const std::size_t want = std::min<std::size_t>(rl.rlim_cur, 4096);
  const std::size_t before = openDescriptors();
  const std::size_t size = reserveFileTable(want);
  EXPECT_GE(size, want) << "FDSize after reserving " << want;
  EXPECT_EQ(openDescriptors(), before);
  // Asking again, or for less, changes nothing (tables never shrink).
  EXPECT_EQ(reserveFileTable(want / 2), size);
}

TEST(FileTable, NeverAsksForMoreThanTheOpenFileLimit) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const std::size_t before = openDescriptors();
  // Past the limit the kernel would refuse the high descriptor and grow nothing: capped, the
  // table reaches the limit itself (when the limit is small enough to try that here).
  if (rl.rlim_cur > 65536)
    GTEST_SKIP() << "open-file limit " << rl.rlim_cur << " too large to fill";
  const std::size_t size = reserveFileTable(static_cast<std::size_t>(rl.rlim_cur) * 4);
  EXPECT_GE(size, static_cast<std::size_t>(rl.rlim_cur));
  EXPECT_EQ(openDescriptors(), before);
}

}  // namespace
}  // namespace parley::app
