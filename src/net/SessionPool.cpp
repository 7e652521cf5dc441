#include "net/SessionPool.h"

#include <algorithm>
#include <new>

namespace parley::net {

BlockPool::BlockPool(std::size_t blockSize)
    : blockSize_((std::max(blockSize, sizeof(FreeBlock)) + alignof(std::max_align_t) - 1) /
                 alignof(std::max_align_t) * alignof(std::max_align_t)) {}

BlockPool::~BlockPool() {
  for (char* chunk : chunks_) ::operator delete(chunk);
}

void* BlockPool::allocate() {
  std::lock_guard lock(mutex_);
  if (free_ == nullptr) {
    const std::size_t blocks = kChunkBytes / blockSize_ > 0 ? kChunkBytes / blockSize_ : 1;
    chunks_.reserve(chunks_.size() + 1);
    char* chunk = static_cast<char*>(::operator new(blocks* blockSize_));
    chunks_.push_back(chunk);
    for (std::size_t i = blocks; i-- > 0;) free_ = ::new (chunk + i * blockSize_) FreeBlock{free_};
  }
  FreeBlock* block = free_;
  free_ = block->next;
  return block;
}

void BlockPool::deallocate(void* block) noexcept {
  std::lock_guard lock(mutex_);
  free_ = ::new (block) FreeBlock{free_};
}

}  // namespace parley::net
