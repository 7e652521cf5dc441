#pragma once
// Fixed-size blocks for long-lived objects (WebSocket sessions), carved from their own chunks.
// Must never return a block to the general heap or hand out a block of another size.

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace parley::net {

// Sessions live for minutes or days but are allocated in bursts among short-lived buffers
// (requests, frames, queues). Side by side in the general heap, the short-lived ones leave holes
// in almost every page once freed, and the resident size stays at the burst's peak; in chunks of
// their own, sessions pack densely and the holes left by the rest are whole pages. Freed blocks
// are reused, chunks are kept (their number is bounded by the connection limit).
class BlockPool {
 public:
  explicit BlockPool(std::size_t blockSize);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool();  // frees the chunks: every block must have been given back

  void* allocate();
  void deallocate(void* block) noexcept;

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  std::mutex mutex_;  // sessions are made and freed on shard threads, which are several
  std::size_t blockSize_;
  FreeBlock* free_ = nullptr;
  std::vector<char*> chunks_;
};

// For std::allocate_shared: the control block and the object come from one pool per type. In
// sanitizer builds, plain new/delete, so that AddressSanitizer still sees every session's end.
template <class T>
struct PooledAllocator {
  using value_type = T;
  PooledAllocator() = default;
  template <class U>
  PooledAllocator(const PooledAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
#if !defined(__SANITIZE_ADDRESS__)
    if (n == 1) return static_cast<T*>(pool().allocate());
#endif
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
#if !defined(__SANITIZE_ADDRESS__)
    if (n == 1) return pool().deallocate(p);
#endif
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const PooledAllocator<U>&) const noexcept {
    return true;
  }

 private:
  static BlockPool& pool() {
    static_assert(alignof(T) <= alignof(std::max_align_t));
    // Never destroyed: a session may be freed during static destruction at exit.
    static BlockPool& instance = *new BlockPool(sizeof(T));
    return instance;
  }
};

}  // namespace parley::net
