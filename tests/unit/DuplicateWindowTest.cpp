// The duplicate-send window alone: what a retry finds, and both of its bounds (age and count).
#include <gtest/gtest.h>

#include "chat/DuplicateWindow.h"

namespace parley::chat {
namespace {

const DuplicateLimits kLimits{/*windowMs=*/1000, /*perRoom=*/3};

TEST(DuplicateWindow, ARetryFindsItsOriginalWithinTheWindowOnly) {
  DuplicateWindow w;
  const std::string key = DuplicateWindow::key("alice", "c1");
  EXPECT_EQ(w.find(key, 0, kLimits), nullptr);
  w.remember(key, 10'000, kLimits);
  const DuplicateWindow::Sent* seen = w.find(key, 10'500, kLimits);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->frame, nullptr);  // still on its way to the store
  auto frame = std::make_shared<const WireFrame>(WireFrame{"original", 7, {}});
  w.setFrame(key, frame);
  EXPECT_EQ(w.find(key, 11'000, kLimits)->frame, frame);  // exactly the window: still found
  EXPECT_EQ(w.find(key, 11'001, kLimits), nullptr);       // past it
  // Other users' ids and other ids are other keys.
  EXPECT_EQ(w.find(DuplicateWindow::key("bob", "c1"), 10'500, kLimits), nullptr);
  EXPECT_NE(DuplicateWindow::key("ab", "c"), DuplicateWindow::key("a", "bc"));
}

TEST(DuplicateWindow, ForgetsTheOldestPastTheCountBound) {
  DuplicateWindow w;
  for (int i = 0; i < 4; ++i)
    w.remember(DuplicateWindow::key("u", std::to_string(i)), 100, kLimits);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w.find(DuplicateWindow::key("u", "0"), 100, kLimits), nullptr);
  for (int i = 1; i < 4; ++i)
    EXPECT_NE(w.find(DuplicateWindow::key("u", std::to_string(i)), 100, kLimits), nullptr) << i;
}

TEST(DuplicateWindow, ForgetsWhatIsOlderThanTheWindow) {
  DuplicateWindow w;
  w.remember(DuplicateWindow::key("u", "old"), 0, kLimits);
  w.remember(DuplicateWindow::key("u", "new"), 900, kLimits);
  w.forgetExpired(1500, kLimits);  // "old" is 1.5 s old, "new" 0.6 s
  EXPECT_EQ(w.size(), 1u);
  EXPECT_NE(w.find(DuplicateWindow::key("u", "new"), 1500, kLimits), nullptr);
  w.forgetExpired(5000, kLimits);
  EXPECT_TRUE(w.empty());
  // Remembering a new one also drops what expired meanwhile.
  w.remember(DuplicateWindow::key("u", "a"), 6000, kLimits);
  w.remember(DuplicateWindow::key("u", "b"), 8000, kLimits);
  EXPECT_EQ(w.size(), 1u);
}

TEST(DuplicateWindow, ARefusedSendIsForgottenSoItsRetryGoesThrough) {
  DuplicateWindow w;
  const std::string key = DuplicateWindow::key("alice", "c1");
  w.remember(key, 100, kLimits);
  w.forget(key);
  EXPECT_EQ(w.find(key, 100, kLimits), nullptr);
  w.remember(key, 200, kLimits);  // the retry
  EXPECT_NE(w.find(key, 200, kLimits), nullptr);
  EXPECT_EQ(w.size(), 1u);
  w.forgetExpired(2000, kLimits);  // its stale first entry in the order goes too
  EXPECT_TRUE(w.empty());
}

}  // namespace
}  // namespace parley::chat

namespace parley::chat {
namespace {

// What the count bound dropped, the owner must ask the store about; what age dropped, nobody
// needs to (a retry past the window is a new message).
TEST(DuplicateWindow, SaysWhenTheCountBoundForgotASendInsideTheWindow) {
  DuplicateWindow w;
  EXPECT_FALSE(w.forgotByCountSince(0));
  w.remember(DuplicateWindow::key("u", "old"), 0, kLimits);
  w.forgetExpired(5000, kLimits);  // forgotten for its age
  EXPECT_FALSE(w.forgotByCountSince(0));
  for (int i = 0; i < 4; ++i)
    w.remember(DuplicateWindow::key("u", std::to_string(i)), 6000 + i, kLimits);
  EXPECT_TRUE(w.forgotByCountSince(6000));   // "0", sent at 6000, went for the count
  EXPECT_FALSE(w.forgotByCountSince(6001));  // nothing sent after it did
}

}  // namespace
}  // namespace parley::chat
