// What the tests of the room parts alone (registry, batcher) share: shards as plain FIFO task
// queues run by the test, a member that records what it is given, and an environment whose
// frames are JSON lines (a batch of changes is lines back to back, as frames are on the wire).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/HubEnvironment.h"
#include "chat/Member.h"

namespace parley::chat::roomtest {

class ShardQueues {
 public:
  explicit ShardQueues(std::size_t n) : queues_(n) {}
  void post(std::size_t shard, std::function<void()> task) {
    queues_[shard].push_back(std::move(task));
  }
  std::size_t waiting(std::size_t shard) const { return queues_[shard].size(); }
  // Runs shard `shard`'s tasks, including those they post to it, until none is left.
  void run(std::size_t shard) {
    while (!queues_[shard].empty()) {
      auto task = std::move(queues_[shard].front());
      queues_[shard].pop_front();
      task();
    }
  }

 private:
  std::vector<std::deque<std::function<void()>>> queues_;
};

class RecordingMember : public Member {
 public:
  explicit RecordingMember(std::string name, bool catchingUp = false)
      : name_(std::move(name)), catchingUp_(catchingUp) {}
  const std::string& username() const override { return name_; }
  void deliver(const Frame& frame) override { frames.push_back(frame); }
  void endCatchUp(std::vector<Frame>, std::uint64_t) override { catchingUp_ = false; }
  bool catchingUp() const override { return catchingUp_; }
  void evicted(std::uint16_t closeCode, const char*, const Frame& notice) override {
    evictedWith = closeCode;
    frames.push_back(notice);
  }

  // Every JSON line it was given, in order.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& f : frames)
      for (std::size_t at = 0, end; (end = f->bytes.find('\n', at)) != std::string::npos;
           at = end + 1)
        out.push_back(f->bytes.substr(at, end - at));
    return out;
  }
  std::vector<Frame> frames;
  std::uint16_t evictedWith = 0;  // the close code it was evicted with (0: not evicted)

 private:
  std::string name_;
  bool catchingUp_;
};

inline Frame lineFrame(std::string_view json, std::uint64_t id) {
  std::string line(json);
  line.push_back('\n');
  return std::make_shared<const WireFrame>(WireFrame{std::move(line), id, {}});
}

inline std::int64_t steadyNowMs = 1'000'000;
inline std::int64_t testSteadyClock() { return steadyNowMs; }
inline std::int64_t testUnixClock() { return 1758122625123; }

// Shards are `queues`; wake-ups asked for are appended to `wakes` (shard, due ms).
inline HubEnvironment testEnvironment(ShardQueues& queues, std::size_t shards,
                                      std::vector<std::pair<std::size_t, std::int64_t>>* wakes) {
  HubEnvironment env;
  env.shardCount = shards;
  env.post = [&queues](std::size_t s, std::function<void()> t) { queues.post(s, std::move(t)); };
  env.wake = [wakes](std::size_t s, std::int64_t due) {
    if (wakes) wakes->emplace_back(s, due);
  };
  env.encode = &lineFrame;
  env.unixClock = &testUnixClock;
  env.steadyClock = &testSteadyClock;
  return env;
}

}  // namespace parley::chat::roomtest
