#include "store/StoreReader.h"

namespace parley::store {

StoreReader::StoreReader(std::unique_ptr<MessageStore> store, std::size_t maxQueued)
    : store_(std::move(store)),
      // Reads run at shutdown too: each answers a waiting client.
      worker_("store-reader", maxQueued, [this](Job& job, bool) { job(*store_); }) {}

StoreReader::~StoreReader() = default;

bool StoreReader::submit(Job job) { return worker_.submit(std::move(job)); }

}  // namespace parley::store
