#include "net/Listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>
#include <chrono>

#include "net/HttpSession.h"
#include "net/Shard.h"

namespace parley::net {

using tcp = boost::asio::ip::tcp;

Listener::Listener(Shard& shard, const tcp::endpoint& endpoint)
    : shard_(shard), acceptor_(shard.io()), backoff_(shard.io()) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  const int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw std::runtime_error("SO_REUSEPORT is not available");
  acceptor_.bind(endpoint);
  acceptor_.listen(4096);
  // Linux copies TCP_NODELAY to every socket accept() returns: set once here, not per connect.
  // Frames are corked by the server (one gather write per turn); Nagle would only delay them.
  if (::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    throw std::runtime_error("cannot set TCP_NODELAY on the listening socket");
}

std::uint16_t Listener::port() const { return acceptor_.local_endpoint().port(); }

void Listener::start() { accept(); }

void Listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void Listener::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: accepting again at once would spin; give closes a moment.
      backoff_.expires_after(std::chrono::milliseconds(50));
      backoff_.async_wait([this](boost::system::error_code e) {
        if (!e) accept();
      });
      return;
    }
    startHttpSession(shard_, std::move(socket));
    accept();
  });
}

}  // namespace parley::net
