// OriginPolicy: which web pages may open a WebSocket to this server (cross-site WebSocket
// hijacking: a page on any site can open ws://parley-host/ws/room from a visitor's browser, and
// browsers do not apply CORS to WebSockets; the Origin header is the only thing that tells).
// Decides from the Origin and Host headers alone; never looks at tokens or names, and never
// refuses a client that sends no Origin (browsers always send one on a WebSocket; other
// clients are not the attack).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parley::auth {

class OriginPolicy {
 public:
  // `allowed`: exact origins ("https://chat.example.com", scheme://host[:port], compared
  // ignoring ASCII case), or "*" for any. Empty: the server's own origin only, i.e. an Origin
  // whose host[:port] is the request's Host header (what a page served by this server sends).
  explicit OriginPolicy(std::vector<std::string> allowed = {});

  // True when a request with these headers may upgrade. `origin` empty: no Origin header.
  bool allows(std::string_view origin, std::string_view host) const;

 private:
  std::vector<std::string> allowed_;  // lower-cased, without a trailing '/'
  bool any_ = false;
};

}  // namespace parley::auth
