// PLACEHOLDER CONTRACT (from /work/wt/CLUSTER.md); replaced by h/redis's header on merge.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
namespace parley::cluster {
struct RedisEndpoint { std::string host; std::uint16_t port = 6379; };
std::vector<RedisEndpoint> parseRedisAddresses(std::string_view text);
struct RedisReply {
  enum class Kind : std::uint8_t { Nil, Status, Error, Integer, String, Array };
  Kind kind = Kind::Nil;
  std::int64_t integer = 0;
  std::string text;
  std::vector<RedisReply> elements;
  bool error() const { return kind == Kind::Error; }
};
struct RedisLinkOptions {
  std::vector<RedisEndpoint> seeds;
  std::int64_t connectTimeoutMs = 1000;
  std::int64_t commandTimeoutMs = 2000;
  std::int64_t maxReconnectDelayMs = 2000;
  std::size_t maxPendingCommands = 100'000;
};
struct RedisLinkCounts {
  std::uint64_t reconnects = 0, moved = 0, asks = 0, retries = 0, failed = 0, messages = 0;
};
class RedisLink {
 public:
  struct Handlers {
    std::function<void(std::string_view channel, std::string_view payload)> message;
    std::function<void(std::string_view channel)> subscribed;
    std::function<void(bool up)> state;
  };
  static std::unique_ptr<RedisLink> start(RedisLinkOptions options, Handlers handlers);
  virtual ~RedisLink() = default;
  using ReplyFn = std::function<void(RedisReply)>;
  virtual void command(std::string_view key, std::vector<std::string> args, ReplyFn done) = 0;
  virtual void publish(std::string_view channel, std::string_view payload, ReplyFn done) = 0;
  virtual void subscribe(std::string_view channel) = 0;
  virtual void unsubscribe(std::string_view channel) = 0;
  virtual void after(std::int64_t ms, std::function<void()> task) = 0;
  virtual bool up() const = 0;
  virtual bool isCluster() const = 0;
  virtual RedisLinkCounts counts() const = 0;
};
}  // namespace parley::cluster
