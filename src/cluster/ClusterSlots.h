// ClusterSlots: the reply of CLUSTER SLOTS read as slot ranges and the master serving each (the
// replicas are not used: Parley reads and writes masters only). Pure parsing; it must never
// decide anything about connections.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "cluster/RedisAddress.h"
#include "cluster/RedisReply.h"

namespace parley::cluster {

struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;  // inclusive
  RedisEndpoint master;
};

// nullopt when the reply is not a slot map. A master announced with an empty address (Redis
// does so when it does not know its own) is taken to be on `askedHost`, the node that answered.
std::optional<std::vector<SlotRange>> parseClusterSlots(const RedisReply& reply,
                                                        std::string_view askedHost);

}  // namespace parley::cluster
