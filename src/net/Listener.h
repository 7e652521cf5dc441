// Listener: one shard's acceptor. Every shard binds the same address with SO_REUSEPORT, so the
// kernel spreads new connections over the shards with no shared accept lock.
// Counts every connection at accept (ConnectionGate) and refuses the ones over a bound with an
// HTTP answer and a close, never by leaving them to hang; when the process is out of
// descriptors it refuses one on the process's spare descriptor (DescriptorReserve), and
// otherwise pauses and tries again.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string_view>

#include "net/FileDescriptor.h"

namespace parley::net {

class Shard;

class Listener {
 public:
  // Throws (at start-up) if the address cannot be bound.
  Listener(Shard& shard, const boost::asio::ip::tcp::endpoint& endpoint);
  void start();
  void stop();  // on the shard's thread
  std::uint16_t port() const;

 private:
  void accept();
  // Counts a new connection at the gate, then serves it or tells it why not.
  void admit(FileDescriptor fd, const sockaddr_storage& peer);
  // At the descriptor limit: accepts one connection on the spare descriptor to refuse it.
  bool refuseWithReserve();
  static void refuseAtTheDoor(FileDescriptor fd, std::string_view response);
  static constexpr int kAcceptsPerTurn = 64;

  Shard& shard_;
  boost::asio::ip::tcp protocol_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
};

}  // namespace parley::net
