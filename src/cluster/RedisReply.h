// RedisReply: one parsed Redis reply (RESP2) as a plain value, so that no hiredis type appears in
// a header. Made by RedisConnection's reader (directly, through hiredis's object callbacks: no
// second copy) and handed to callers by RedisLink. It must never hold anything but the reply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace parley::cluster {

struct RedisReply {
  enum class Kind : std::uint8_t { Nil, Status, Error, Integer, String, Array };
  Kind kind = Kind::Nil;
  std::int64_t integer = 0;
  std::string text;                  // Status, Error, String
  std::vector<RedisReply> elements;  // Array
  bool error() const { return kind == Kind::Error; }

  static RedisReply makeError(std::string text) {
    RedisReply r;
    r.kind = Kind::Error;
    r.text = std::move(text);
    return r;
  }
};

}  // namespace parley::cluster
