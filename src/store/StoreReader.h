// StoreReader: a thread with its own store connection that runs history reads (join history,
// resume, paging) in order, so no event loop ever waits on the database.
// Never writes: ids and durability belong to StoreWriter alone.
#pragma once

#include <functional>
#include <memory>

#include "store/BoundedWorker.h"
#include "store/MessageStore.h"

namespace parley::store {

class StoreReader {
 public:
  using Job = std::function<void(MessageStore&)>;

  explicit StoreReader(std::unique_ptr<MessageStore> store, std::size_t maxQueued = 10'000);
  ~StoreReader();  // runs what is queued, then stops
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  // Any thread. False when the queue is full (the caller answers "busy"): reads are bounded too.
  bool submit(Job job);

 private:
  std::unique_ptr<MessageStore> store_;
  BoundedWorker<Job> worker_;  // last: joined before store_ goes
};

}  // namespace parley::store
