// ConnectionGate: admits TCP connections at accept, before a byte of them is read, and counts
// them until they close — in the HTTP phase as well as after the upgrade, so a flood of
// half-open requests cannot eat the descriptors that WebSockets and /healthz need. Bounds the
// connections in all (--max-connections) and, when asked, per client address
// (--max-connections-per-ip). Thread-safe; the per-address table takes a mutex on accept and
// close only (never on the message path), and only when the per-address bound is set.
// Never reads or writes a socket itself (the Listener answers the refused ones).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::net {

// What release() needs to give an admitted connection's place back: 0 when addresses are not
// counted, else its entry in the gate's table. (Not the descriptor: Beast closes a timed-out
// socket itself, and its number may belong to a newer connection by the time we release.)
using Admission = std::uint32_t;

class ConnectionGate {
 public:
  enum class Verdict : std::uint8_t { Admitted, ServerFull, AddressFull };

  // `maxPerAddress` 0: no per-address bound.
  ConnectionGate(std::size_t maxConnections, std::size_t maxPerAddress)
      : max_(maxConnections), maxPerAddress_(maxPerAddress) {}

  // A connection from `peer` was accepted: counts it when admitted, and sets `admission`.
  Verdict admit(const sockaddr_storage& peer, Admission& admission);
  // The admitted connection is closing (exactly once per admission).
  void release(Admission admission);

  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

  // An IPv4 or IPv6 address as bytes (the port left out: one client, many ports); empty for
  // other families. Also the key of the per-address message rate (WsSession).
  static std::string key(const sockaddr_storage& peer);

 private:
  const std::size_t max_;
  const std::size_t maxPerAddress_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> perAddress_;
  // Admission n is slot n-1: the address it counts against; freed slots are reused.
  std::vector<std::string> slots_;
  std::vector<Admission> freeSlots_;
};

}  // namespace parley::net
