#include "store/StoreReader.h"

#include <pthread.h>

#include <chrono>

namespace parley::store {

StoreReader::StoreReader(std::unique_ptr<MessageStore> store, std::size_t maxQueued)
    : store_(std::move(store)), maxQueued_(maxQueued) {
  thread_ = std::thread([this] { run(); });
}

StoreReader::~StoreReader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool StoreReader::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= maxQueued_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void StoreReader::run() {
  pthread_setname_np(pthread_self(), "store-reader");  // for top -H, perf, /proc
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (job) job(*store_);
  }
}

}  // namespace parley::store
