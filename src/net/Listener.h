// Listener: one shard's acceptor. Every shard binds the same address with SO_REUSEPORT, so the
// kernel spreads new connections over the shards with no shared accept lock.
// Never refuses to retry: when file descriptors run out it pauses and tries again.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

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
  static constexpr int kAcceptsPerTurn = 64;

  Shard& shard_;
  boost::asio::ip::tcp protocol_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
};

}  // namespace parley::net
