#include "net/Listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>
#include <cerrno>
#include <chrono>

#include "metrics/Metrics.h"
#include "net/DescriptorReserve.h"
#include "net/HttpSession.h"
#include "net/Shard.h"

namespace parley::net {

using tcp = boost::asio::ip::tcp;

namespace {

// Refusals written straight to a socket that was never admitted (no session, no parser).
constexpr std::string_view kServerFull =
    "HTTP/1.1 503 Service Unavailable\r\nServer: parley\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 57\r\n\r\n"
    R"({"error":"server_full","message":"too many connections"})"
    "\n";
constexpr std::string_view kAddressFull =
    "HTTP/1.1 429 Too Many Requests\r\nServer: parley\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 84\r\n\r\n"
    R"({"error":"too_many_connections","message":"too many connections from this address"})"
    "\n";

}  // namespace

Listener::Listener(Shard& shard, const tcp::endpoint& endpoint)
    : shard_(shard), protocol_(endpoint.protocol()), acceptor_(shard.io()), backoff_(shard.io()) {
  DescriptorReserve::process();  // the spare is opened at start-up, not first at the limit
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  const int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw std::runtime_error("SO_REUSEPORT is not available");
  acceptor_.bind(endpoint);
  acceptor_.listen(4096);
  acceptor_.non_blocking(true);  // accept4() below says EAGAIN when the queue is empty
  // The kernel hands over a connection once its first bytes (the request) are in, so the first
  // read finds them and serveConnection upgrades at once, outside Asio (without this, about half
  // the connects of the idle benchmark read EAGAIN first and took the slower Asio path: 38 vs
  // 53 us of CPU per connect). A client that connects and says nothing is held by the kernel
  // for ~1 s (one SYN-ACK retransmission), costing no descriptor or session, then accepted:
  // the handshake timeout runs from there.
  const int deferSeconds = 1;
  ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &deferSeconds,
               sizeof deferSeconds);  // without it the first read may say EAGAIN: still correct
  // Linux copies TCP_NODELAY to every socket accept() returns: set once here, not per connect.
  // Frames are corked by the server (one gather write per turn); Nagle would only delay them.
  if (::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    throw std::runtime_error("cannot set TCP_NODELAY on the listening socket");
}

void Listener::admit(FileDescriptor fd, const sockaddr_storage& peer) {
  auto& ctx = shard_.ctx();
  Admission admission = 0;
  switch (ctx.gate.admit(peer, admission)) {
    case ConnectionGate::Verdict::Admitted:
      return serveConnection(shard_, std::move(fd), admission, protocol_);
    case ConnectionGate::Verdict::ServerFull:
      ctx.metrics.reject(metrics::Rejection::ServerFull);
      return refuseAtTheDoor(std::move(fd), kServerFull);
    case ConnectionGate::Verdict::AddressFull:
      ctx.metrics.reject(metrics::Rejection::TooManyConnections);
      return refuseAtTheDoor(std::move(fd), kAddressFull);
  }
}

// Out of descriptors, connections would wait in the kernel's queue until the client gave up:
// the spare descriptor makes room for one accept, long enough to tell it why and close.
bool Listener::refuseWithReserve() {
  return DescriptorReserve::process().refuseOne(
      acceptor_.native_handle(), [this](FileDescriptor fd) {
        shard_.ctx().metrics.reject(metrics::Rejection::ServerFull);
        refuseAtTheDoor(std::move(fd), kServerFull);
      });
}

void Listener::refuseAtTheDoor(FileDescriptor fd, std::string_view response) {
  // The request is usually in already (TCP_DEFER_ACCEPT): read it, so that closing sends a FIN
  // after the answer, not a reset that could destroy the answer on its way.
  char scratch[4096];
  while (::recv(fd.get(), scratch, sizeof scratch, MSG_DONTWAIT) > 0) {
  }
  ::send(fd.get(), response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd.get(), SHUT_WR);
}  // `fd` closes it

std::uint16_t Listener::port() const { return acceptor_.local_endpoint().port(); }

void Listener::start() { accept(); }

void Listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

// accept4() by hand rather than Asio's async_accept: the new socket comes out non-blocking and
// outside Asio's reactor, which a WebSocket (nearly every connection) never needs.
void Listener::accept() {
  acceptor_.async_wait(tcp::acceptor::wait_read, [this](boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    // Bounded per turn so a connect storm cannot starve the shard's sessions.
    for (int i = 0; !ec && i < kAcceptsPerTurn; ++i) {
      sockaddr_storage peer{};
      socklen_t peerLength = sizeof peer;
      FileDescriptor fd = DescriptorReserve::process().accept(
          acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peerLength);
      if (fd) {
        admit(std::move(fd), peer);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNABORTED) continue;  // that one is gone; the rest wait
      if ((errno == EMFILE || errno == ENFILE) && refuseWithReserve()) continue;
      ec.assign(errno, boost::system::system_category());
    }
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: accepting again at once would spin; give closes a moment.
      backoff_.expires_after(std::chrono::milliseconds(50));
      backoff_.async_wait([this](boost::system::error_code e) {
        if (!e) accept();
      });
      return;
    }
    accept();
  });
}

}  // namespace parley::net
