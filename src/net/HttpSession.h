// HttpSession: one TCP connection while it speaks HTTP/1.1: plain requests (routes in http/) and
// the WebSocket upgrade, after which it hands the socket to a WsSession and ends.
// Never keeps a connection that does not finish its request within the handshake timeout.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "net/ConnectionGate.h"
#include "net/FileDescriptor.h"

namespace parley::net {

class Shard;

// Serves a connection accept() just returned (non-blocking): a WebSocket upgrade goes straight
// to a WsSession, anything else to an HttpSession (defined in HttpSession.cpp, where Beast lives).
// `admission`: the ConnectionGate's count of it, given back when the connection closes.
void serveConnection(Shard& shard, FileDescriptor fd, Admission admission,
                     const boost::asio::ip::tcp& protocol);

}  // namespace parley::net
