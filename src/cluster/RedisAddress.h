// RedisAddress: the `--cluster` value, "redis://host:port[,host:port...]" (the scheme may be left
// out, the port defaults to 6379, IPv6 hosts in brackets), as a list of endpoints. Start-up only:
// it throws std::invalid_argument with a message that names the bad part; it never resolves names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parley::cluster {

struct RedisEndpoint {
  std::string host;
  std::uint16_t port = 6379;
};

std::vector<RedisEndpoint> parseRedisAddresses(std::string_view text);

// "host:port" ("[v6]:port"): how nodes are named in logs, errors and MOVED replies.
std::string toString(const RedisEndpoint& endpoint);

}  // namespace parley::cluster
