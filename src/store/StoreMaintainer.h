// StoreMaintainer: a thread with its own store connection that runs the store's housekeeping
// (SQLite: the inbox's ingest and a WAL checkpoint) about once a second, at the lowest CPU priority
// the OS has. Never competes with the event loops, the writer or the reader for a core: under full
// load it waits (the WAL grows meanwhile, up to SQLite's automatic checkpoint).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "store/StoreUpkeep.h"

namespace parley::store {

class StoreMaintainer {
 public:
  explicit StoreMaintainer(std::unique_ptr<StoreUpkeep> store,
                           std::chrono::milliseconds period = std::chrono::seconds(1));
  ~StoreMaintainer();
  StoreMaintainer(const StoreMaintainer&) = delete;
  StoreMaintainer& operator=(const StoreMaintainer&) = delete;

  std::uint64_t runs() const;

 private:
  void run();

  std::unique_ptr<StoreUpkeep> store_;
  std::chrono::milliseconds period_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t runs_ = 0;
  std::thread thread_;
};

}  // namespace parley::store
