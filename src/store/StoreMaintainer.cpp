#include "store/StoreMaintainer.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

namespace parley::store {

StoreMaintainer::StoreMaintainer(std::unique_ptr<StoreUpkeep> store,
                                 std::chrono::milliseconds period)
    : store_(std::move(store)), period_(period), thread_([this] { run(); }) {}

StoreMaintainer::~StoreMaintainer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::uint64_t StoreMaintainer::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

void StoreMaintainer::run() {
  pthread_setname_np(pthread_self(), "store-maint");  // for top -H, perf, /proc
  // Why: a checkpoint copies every page written since the last one and syncs the file (tens of
  // milliseconds of CPU and I/O). On a core shared with an event loop it delayed deliveries
  // by as much once a second (p99 62-110 ms against 25 ms without). SCHED_IDLE runs it only
  // when the core has nothing else to do; where that is refused, the weakest nice level.
  sched_param param{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0)
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    store_->maintain();
    lock.lock();
    ++runs_;
  }
}

}  // namespace parley::store
