// BoundedWorker: jobs run in order on the worker's thread, the queue's bound refuses the one
// past it, and at destruction every accepted job still runs, told that the worker is stopping.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "store/BoundedWorker.h"

namespace parley::store {
namespace {

struct Job {
  int number = 0;
  std::shared_future<void> wait;  // the first job holds the worker until it is released
};

TEST(BoundedWorker, RunsInOrderOnItsThreadAndRefusesPastTheBound) {
  std::mutex mutex;
  std::vector<int> ran;
  std::vector<bool> stopped;
  std::thread::id where;
  std::promise<void> release;
  std::promise<void> started;
  {
    BoundedWorker<Job> worker("test-worker", 3, [&](Job& job, bool stopping) {
      if (job.wait.valid()) {
        started.set_value();
        job.wait.wait();
      }
      std::lock_guard lock(mutex);
      where = std::this_thread::get_id();
      ran.push_back(job.number);
      stopped.push_back(stopping);
    });
    ASSERT_TRUE(worker.submit({0, release.get_future().share()}));
    started.get_future().wait();  // job 0 is running: the queue is empty again
    EXPECT_TRUE(worker.submit({1, {}}));
    EXPECT_TRUE(worker.submit({2, {}}));
    EXPECT_TRUE(worker.submit({3, {}}));
    EXPECT_FALSE(worker.submit({4, {}})) << "past the bound of 3";
    release.set_value();
  }  // destruction: what was accepted still runs
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_NE(where, std::this_thread::get_id());
  EXPECT_FALSE(stopped.front());
}

TEST(BoundedWorker, JobsQueuedAtDestructionAreToldTheWorkerIsStopping) {
  std::vector<bool> stopped;
  std::promise<void> release;
  std::promise<void> started;
  std::optional<BoundedWorker<Job>> worker;
  worker.emplace("test-worker", 100'000, [&](Job& job, bool stopping) {
    if (job.wait.valid()) {
      started.set_value();
      job.wait.wait();
    }
    stopped.push_back(stopping);
  });
  ASSERT_TRUE(worker->submit({0, release.get_future().share()}));
  started.get_future().wait();
  ASSERT_TRUE(worker->submit({1, {}}));
  ASSERT_TRUE(worker->submit({2, {}}));
  // The destructor, on another thread, waits for job 0; once it has begun, submit says no (the
  // queue is far from full: one try per millisecond against a bound of 100,000).
  std::thread destroy([&] { worker.reset(); });
  std::size_t accepted = 3;
  while (worker->submit({9, {}})) {
    ++accepted;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  release.set_value();
  destroy.join();
  ASSERT_EQ(stopped.size(), accepted) << "every accepted job ran, and no other";
  EXPECT_FALSE(stopped[0]);
  for (std::size_t i = 1; i < stopped.size(); ++i) EXPECT_TRUE(stopped[i]) << i;
}

}  // namespace
}  // namespace parley::store
