#include "cluster/ClusterSlots.h"

#include "cluster/HashSlot.h"

namespace parley::cluster {

std::optional<std::vector<SlotRange>> parseClusterSlots(const RedisReply& reply,
                                                        std::string_view askedHost) {
  using Kind = RedisReply::Kind;
  if (reply.kind != Kind::Array) return std::nullopt;
  std::vector<SlotRange> ranges;
  ranges.reserve(reply.elements.size());
  for (const RedisReply& entry : reply.elements) {
    if (entry.kind != Kind::Array || entry.elements.size() < 3) return std::nullopt;
    const RedisReply& first = entry.elements[0];
    const RedisReply& last = entry.elements[1];
    const RedisReply& master = entry.elements[2];
    if (first.kind != Kind::Integer || last.kind != Kind::Integer || first.integer < 0 ||
        last.integer < first.integer || last.integer >= kSlotCount)
      return std::nullopt;
    if (master.kind != Kind::Array || master.elements.size() < 2 ||
        master.elements[0].kind != Kind::String || master.elements[1].kind != Kind::Integer ||
        master.elements[1].integer <= 0 || master.elements[1].integer > 65535)
      return std::nullopt;
    SlotRange range;
    range.first = static_cast<std::uint16_t>(first.integer);
    range.last = static_cast<std::uint16_t>(last.integer);
    const std::string& host = master.elements[0].text;
    range.master.host = host.empty() || host == "?" ? std::string(askedHost) : host;
    range.master.port = static_cast<std::uint16_t>(master.elements[1].integer);
    ranges.push_back(std::move(range));
  }
  return ranges;
}

}  // namespace parley::cluster
