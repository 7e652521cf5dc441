// HttpSession: one TCP connection while it speaks HTTP/1.1: plain requests (routes in http/) and
// the WebSocket upgrade, after which it hands the socket to a WsSession and ends.
// Never keeps a connection that does not finish its request within the handshake timeout.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace parley::net {

class Shard;

// Starts serving `socket` on `shard` (defined in HttpSession.cpp, where Beast lives).
void startHttpSession(Shard& shard, boost::asio::ip::tcp::socket socket);

}  // namespace parley::net
