#include "cluster/RedisAddress.h"

#include <charconv>
#include <stdexcept>

namespace parley::cluster {
namespace {

[[noreturn]] void refuse(std::string_view text, std::string_view item, std::string_view why) {
  throw std::invalid_argument("--cluster \"" + std::string(text) + "\": \"" + std::string(item) +
                              "\" " + std::string(why));
}

RedisEndpoint parseOne(std::string_view text, std::string_view item) {
  const std::string_view original = item;
  if (item.starts_with("redis://")) {
    item.remove_prefix(8);
  } else if (item.find("://") != std::string_view::npos) {
    refuse(text, original, "has a scheme other than redis:// (no TLS: rediss:// is not supported)");
  }
  if (!item.empty() && item.back() == '/') item.remove_suffix(1);
  if (item.find('@') != std::string_view::npos)
    refuse(text, original, "holds credentials, which are not supported");
  if (item.find('/') != std::string_view::npos || item.find('?') != std::string_view::npos)
    refuse(text, original, "has a path or query (a database number is not supported)");
  RedisEndpoint endpoint;
  std::string_view port;
  if (item.starts_with('[')) {
    const auto close = item.find(']');
    if (close == std::string_view::npos) refuse(text, original, "has an unclosed [IPv6] host");
    endpoint.host = std::string(item.substr(1, close - 1));
    const std::string_view rest = item.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') refuse(text, original, "has text after the [IPv6] host");
      port = rest.substr(1);
      if (port.empty()) refuse(text, original, "has an empty port");
    }
  } else {
    const auto colon = item.find(':');
    if (colon != std::string_view::npos && item.find(':', colon + 1) != std::string_view::npos)
      refuse(text, original, "is an IPv6 address without [brackets]");
    endpoint.host = std::string(item.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = item.substr(colon + 1);
      if (port.empty()) refuse(text, original, "has an empty port");
    }
  }
  if (endpoint.host.empty()) refuse(text, original, "has no host");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      refuse(text, original, "has a port that is not a number from 1 to 65535");
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  return endpoint;
}

}  // namespace

std::vector<RedisEndpoint> parseRedisAddresses(std::string_view text) {
  std::vector<RedisEndpoint> endpoints;
  std::string_view rest = text;
  // The scheme may be given once for the list ("redis://a:1,b:2") or on every item.
  while (true) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      if (text.empty()) throw std::invalid_argument("--cluster: no Redis address given");
      refuse(text, item, "is empty (a stray comma?)");
    }
    endpoints.push_back(parseOne(text, item));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return endpoints;
}

std::string toString(const RedisEndpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

}  // namespace parley::cluster
