// NetOptions: the limits and timeouts the transport obeys, as plain values. app/ fills them in
// from its Config (flags and PARLEY_* variables); net/ never sees how they were given.
#pragma once

#include <chrono>
#include <cstddef>

namespace parley::net {

struct NetOptions {
  bool ioUring = true;  // batch each loop turn's socket writes through io_uring if available

  // Limits (docs/PROTOCOL.md).
  std::size_t maxFrameBytes = 64 * 1024;
  std::size_t maxOutboundBytes = 1024 * 1024;
  std::size_t maxConnections = 1;
  // Memory one shard lets its connections hold in incomplete frames (0: no bound).
  std::size_t maxPartialBytesPerShard = 64u << 20;

  bool authRequired = false;  // --auth required: an upgrade needs a token

  std::chrono::milliseconds handshakeTimeout{10'000};
  std::chrono::milliseconds pingInterval{30'000};
  std::chrono::milliseconds idleTimeout{75'000};
  std::chrono::milliseconds frameTimeout{10'000};  // to complete a frame once begun (0: none)
  std::chrono::milliseconds shutdownGrace{3'000};
};

}  // namespace parley::net
