// BoundedWorker: one named thread that runs jobs one at a time, in the order submitted, from a
// bounded queue: submit() says no when the queue is full or the worker is stopping, so the
// caller answers "busy" instead of queueing without end. On destruction it runs out what is
// queued, telling each job the worker is stopping (a job may then answer instead of working:
// a login is not hashed at shutdown), and joins. The one place the mutex, condition variable
// and thread of StoreReader, AuthService and RoomService live. In store/ because that is the
// lowest part with threads of its own (auth/ builds on it).
//
// Never runs a job on the caller's thread, never drops a job it accepted. Its owner declares it
// last, so the thread is joined before anything the jobs use goes away.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace parley::store {

template <typename Job>
class BoundedWorker {
 public:
  // `run(job, stopping)` on the worker's thread. `name` (at most 15 characters) is the thread's,
  // for top -H, perf and /proc.
  using Run = std::function<void(Job& job, bool stopping)>;

  BoundedWorker(const char* name, std::size_t maxQueued, Run run)
      : maxQueued_(maxQueued), run_(std::move(run)) {
    thread_ = std::thread([this, name] {
      pthread_setname_np(pthread_self(), name);
      loop();
    });
  }
  ~BoundedWorker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  BoundedWorker(const BoundedWorker&) = delete;
  BoundedWorker& operator=(const BoundedWorker&) = delete;

  // Any thread. False when the queue is full or the worker is stopping (`job` is dropped
  // unrun: nothing it carries is called).
  bool submit(Job job) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || queue_.size() >= maxQueued_) return false;
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      Job job;
      bool stopping;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything accepted was run
        job = std::move(queue_.front());
        queue_.pop_front();
        stopping = stopping_;
      }
      run_(job, stopping);
    }
  }

  const std::size_t maxQueued_;
  const Run run_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace parley::store
