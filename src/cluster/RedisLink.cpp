// RedisLink's one implementation. One file because the slot map, the routing of commands and the
// placement of subscriptions all read and change the same node table on the same thread; split,
// each part would need the others' internals.
#include "cluster/RedisLink.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <future>
#include <list>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "cluster/ClusterSlots.h"
#include "cluster/HashSlot.h"
#include "cluster/RedisConnection.h"

namespace parley::cluster {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Kind = RedisReply::Kind;

constexpr std::uint16_t kNoNode = 0xFFFF;
constexpr int kMaxRedirects = 5;
constexpr std::int64_t kFirstBackoffMs = 50;
// While the link is down the slot map is re-read this often (a failover's new master is found
// by asking the others); every second tick also pings idle connections so that a hung node is
// noticed within a command timeout even when nothing is asked of it.
constexpr std::int64_t kHousekeepingMs = 500;

bool startsWith(std::string_view text, std::string_view prefix) { return text.starts_with(prefix); }

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" (the host may be empty: the node then
// does not know its address, and it is the one the command went to).
struct Redirect {
  std::uint16_t slot = 0;
  RedisEndpoint target;
};
std::optional<Redirect> parseRedirect(std::string_view text, std::string_view fallbackHost) {
  const auto space1 = text.find(' ');
  if (space1 == std::string_view::npos) return std::nullopt;
  const auto space2 = text.find(' ', space1 + 1);
  if (space2 == std::string_view::npos) return std::nullopt;
  const std::string_view slotText = text.substr(space1 + 1, space2 - space1 - 1);
  const std::string_view address = text.substr(space2 + 1);
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned slot = 0, port = 0;
  const std::string_view portText = address.substr(colon + 1);
  if (std::from_chars(slotText.data(), slotText.data() + slotText.size(), slot).ec != std::errc() ||
      std::from_chars(portText.data(), portText.data() + portText.size(), port).ec != std::errc() ||
      slot >= kSlotCount || port == 0 || port > 65535)
    return std::nullopt;
  Redirect r;
  r.slot = static_cast<std::uint16_t>(slot);
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  r.target.host = host.empty() ? std::string(fallbackHost) : std::string(host);
  r.target.port = static_cast<std::uint16_t>(port);
  return r;
}

struct Request {
  std::vector<std::string> args;
  RedisLink::ReplyFn done;
  Clock::time_point deadline;
  std::uint16_t slot = 0;
  bool anyNode = false;
  std::uint8_t redirects = 0;
  std::uint8_t retries = 0;
};
using RequestPtr = std::unique_ptr<Request>;

class LinkImpl final : public RedisLink {
 public:
  LinkImpl(RedisLinkOptions options, Handlers handlers)
      : options_(std::move(options)),
        handlers_(std::move(handlers)),
        work_(io_.get_executor()),
        housekeeping_(io_) {
    slotNode_.assign(kSlotCount, kNoNode);
  }

  ~LinkImpl() override {
    asio::post(io_, [this] { shutdown(); });
    if (thread_.joinable()) thread_.join();
  }

  void startUp() {
    if (options_.seeds.empty()) throw std::runtime_error("Redis: no address to connect to");
    thread_ = std::thread([this] { io_.run(); });
    std::promise<std::string> ready;
    asio::post(io_, [this, &ready] { trySeed(0, &ready, std::string()); });
    const std::string error = ready.get_future().get();
    if (!error.empty()) {
      asio::post(io_, [this] { shutdown(); });
      thread_.join();
      throw std::runtime_error(error);
    }
  }

  void command(std::string_view key, std::vector<std::string> args, ReplyFn done) override {
    if (inflight_.fetch_add(1, std::memory_order_relaxed) >= options_.maxPendingCommands) {
      inflight_.fetch_sub(1, std::memory_order_relaxed);
      failed_.fetch_add(1, std::memory_order_relaxed);
      asio::post(io_, [done = std::move(done), max = options_.maxPendingCommands] {
        if (done)
          done(RedisReply::makeError("LINK queue full: " + std::to_string(max) +
                                     " commands pending"));
      });
      return;
    }
    auto request = std::make_unique<Request>();
    request->args = std::move(args);
    request->done = std::move(done);
    request->deadline = Clock::now() + std::chrono::milliseconds(options_.commandTimeoutMs);
    request->anyNode = key.empty();
    request->slot = key.empty() ? 0 : hashSlot(key);
    asio::post(io_, [this, request = std::move(request)]() mutable { route(std::move(request)); });
  }

  void publish(std::string_view channel, std::string_view payload, ReplyFn done) override {
    command(channel, {"SPUBLISH", std::string(channel), std::string(payload)}, std::move(done));
  }

  void subscribe(std::string_view channel) override {
    asio::post(io_, [this, channel = std::string(channel)]() mutable {
      if (stopping_) return;
      const auto [it, inserted] = wanted_.try_emplace(std::move(channel), kNoNode);
      if (inserted) place(it);
    });
  }

  void unsubscribe(std::string_view channel) override {
    asio::post(io_, [this, channel = std::string(channel)] {
      const auto it = wanted_.find(channel);
      if (it == wanted_.end()) return;
      if (it->second != kNoNode) sendUnsubscribe(it->second, channel);
      wanted_.erase(it);
    });
  }

  void after(std::int64_t ms, std::function<void()> task) override {
    asio::post(io_, [this, ms, task = std::move(task)]() mutable {
      if (stopping_) return;
      const auto timer = timers_.emplace(timers_.end(), io_);
      timer->expires_after(std::chrono::milliseconds(ms));
      timer->async_wait([this, timer, task = std::move(task)](const boost::system::error_code& ec) {
        timers_.erase(timer);
        if (!ec && !stopping_) task();
      });
    });
  }

  bool up() const override { return up_.load(std::memory_order_relaxed); }
  bool isCluster() const override { return cluster_.load(std::memory_order_relaxed); }

  RedisLinkCounts counts() const override {
    constexpr auto r = std::memory_order_relaxed;
    return {reconnects_.load(r), moved_.load(r),  asks_.load(r),
            retries_.load(r),    failed_.load(r), messages_.load(r)};
  }

 private:
  struct Conn {
    std::unique_ptr<RedisConnection> connection;
    std::int64_t backoffMs = 0;
    bool waiting = false;  // closed, a reconnect is scheduled
    std::unique_ptr<asio::steady_timer> retry;
    bool up() const { return connection && connection->connected(); }
  };
  struct Node {
    RedisEndpoint endpoint;
    std::string name;
    bool inMap = false;  // a master of the current slot map (standalone: the one node)
    Conn cmd;            // commands
    Conn sub;            // sharded subscriptions, opened when a channel lives here
    // SUNSUBSCRIBEs sent and not yet confirmed, so that their confirmations are not taken for
    // the server's own sunsubscribe pushes (a slot moved away).
    std::unordered_map<std::string, int> unsubscribing;
  };
  // Wanted channels, and the node their SSUBSCRIBE went to (kNoNode: not placed yet).
  using Wanted = std::unordered_map<std::string, std::uint16_t>;

  // --- start-up ---------------------------------------------------------------------------

  void trySeed(std::size_t i, std::promise<std::string>* ready, std::string errors) {
    if (i == options_.seeds.size()) {
      ready->set_value("Redis: no seed answered (" + errors + ")");
      return;
    }
    const std::uint16_t n = nodeFor(options_.seeds[i]);
    if (!nodes_[n]->cmd.connection) openConn(n, false);
    nodes_[n]->cmd.connection->send(
        {"CLUSTER", "SLOTS"}, [this, i, n, ready, errors](RedisReply reply) mutable {
          if (reply.kind == Kind::Array) {
            const auto ranges = parseClusterSlots(reply, nodes_[n]->endpoint.host);
            if (ranges && !ranges->empty()) {
              cluster_ = true;
              applyMap(*ranges);
              startHousekeeping();
              ready->set_value(std::string());
              return;
            }
            reply = RedisReply::makeError("a cluster with no slots assigned");
          } else if (reply.error() &&
                     reply.text.find("cluster support disabled") != std::string::npos) {
            cluster_ = false;
            nodes_[n]->inMap = true;
            slotNode_.assign(kSlotCount, n);
            updateState();
            startHousekeeping();
            ready->set_value(std::string());
            return;
          }
          errors += (errors.empty() ? "" : "; ") + nodes_[n]->name + ": " + reply.text;
          nodes_[n]->cmd.connection.reset();
          trySeed(i + 1, ready, std::move(errors));
        });
  }

  void startHousekeeping() {
    housekeeping_.expires_after(std::chrono::milliseconds(kHousekeepingMs));
    housekeeping_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      ++ticks_;
      if (!up_) refreshSlots();
      for (std::uint16_t n = 0; n < nodes_.size(); ++n) {
        Node& node = *nodes_[n];
        if (node.inMap && !node.cmd.connection && !node.cmd.waiting) openConn(n, false);
        if (ticks_ % 2 == 0) {
          for (Conn* c : {&node.cmd, &node.sub})
            if (c->up() && c->connection->pending() == 0) c->connection->send({"PING"}, nullptr);
        }
      }
      placeAll();
      startHousekeeping();
    });
  }

  void shutdown() {
    if (stopping_) return;
    stopping_ = true;
    housekeeping_.cancel();
    for (auto& timer : timers_) timer.cancel();
    // Destroying a connection runs its pending callbacks with "LINK closed".
    for (auto& node : nodes_) {
      for (Conn* c : {&node->cmd, &node->sub}) {
        if (c->retry) c->retry->cancel();
        c->connection.reset();
      }
    }
    work_.reset();
  }

  // --- nodes and connections --------------------------------------------------------------

  std::uint16_t nodeFor(const RedisEndpoint& endpoint) {
    std::string name = toString(endpoint);
    const auto it = nodeIndex_.find(name);
    if (it != nodeIndex_.end()) return it->second;
    auto node = std::make_unique<Node>();
    node->endpoint = endpoint;
    node->name = name;
    nodes_.push_back(std::move(node));
    const auto n = static_cast<std::uint16_t>(nodes_.size() - 1);
    nodeIndex_.emplace(std::move(name), n);
    return n;
  }

  void openConn(std::uint16_t n, bool sub) {
    Node& node = *nodes_[n];
    Conn& c = sub ? node.sub : node.cmd;
    RedisConnectionOptions options;
    options.connectTimeoutMs = options_.connectTimeoutMs;
    options.commandTimeoutMs = options_.commandTimeoutMs;
    options.subscriber = sub;
    RedisConnection::Handlers h;
    h.connected = [this, n, sub] { onConnected(n, sub); };
    h.closed = [this, n, sub](std::string_view why) { onClosed(n, sub, why); };
    if (sub) h.push = [this, n](RedisReply& push) { onPush(n, push); };
    c.connection = std::make_unique<RedisConnection>(io_, node.endpoint, options, std::move(h));
    c.connection->connect();
  }

  void onConnected(std::uint16_t n, bool sub) {
    Node& node = *nodes_[n];
    (sub ? node.sub : node.cmd).backoffMs = 0;
    if (sub) {
      placeAll();
    } else {
      updateState();
    }
  }

  // Runs inside the connection's own failure path: resetting it here is safe (it keeps itself
  // alive until it returns, and a destroyed connection calls nothing more).
  void onClosed(std::uint16_t n, bool sub, std::string_view) {
    Node& node = *nodes_[n];
    Conn& c = sub ? node.sub : node.cmd;
    c.connection.reset();
    if (sub) {
      node.unsubscribing.clear();
      for (auto& [channel, where] : wanted_)
        if (where == n) where = kNoNode;
    }
    if (stopping_) return;
    if (node.inMap) scheduleReconnect(n, sub);
    if (!sub) {
      updateState();
      refreshSlots();  // a failover may be under way: ask the others who serves these slots now
    }
  }

  void scheduleReconnect(std::uint16_t n, bool sub) {
    Node& node = *nodes_[n];
    Conn& c = sub ? node.sub : node.cmd;
    if (c.waiting) return;
    c.backoffMs = c.backoffMs == 0 ? kFirstBackoffMs
                                   : std::min(c.backoffMs * 2, options_.maxReconnectDelayMs);
    c.waiting = true;
    if (!c.retry) c.retry = std::make_unique<asio::steady_timer>(io_);
    c.retry->expires_after(std::chrono::milliseconds(c.backoffMs));
    c.retry->async_wait([this, n, sub](const boost::system::error_code& ec) {
      Node& node = *nodes_[n];
      Conn& c = sub ? node.sub : node.cmd;
      c.waiting = false;
      if (ec || stopping_ || !node.inMap || c.connection) return;
      if (sub && !hasChannels(n)) return;  // opened again when a channel needs it
      reconnects_.fetch_add(1, std::memory_order_relaxed);
      openConn(n, sub);
    });
  }

  void updateState() {
    bool all = false;
    for (const auto& node : nodes_) {
      if (!node->inMap) continue;
      if (!node->cmd.up()) {
        all = false;
        break;
      }
      all = true;
    }
    if (all == up_.load(std::memory_order_relaxed)) return;
    up_.store(all, std::memory_order_relaxed);
    if (handlers_.state && !stopping_) handlers_.state(all);
  }

  // --- the slot map -----------------------------------------------------------------------

  void refreshSlots() {
    if (!cluster_ || stopping_) return;
    if (refreshing_) {
      refreshAgain_ = true;
      return;
    }
    std::uint16_t from = kNoNode;
    for (std::uint16_t n = 0; n < nodes_.size(); ++n) {
      if (!nodes_[n]->cmd.up()) continue;
      if (from == kNoNode || (nodes_[n]->inMap && !nodes_[from]->inMap)) from = n;
    }
    if (from == kNoNode) return;  // nobody to ask: the reconnects and the next tick try again
    refreshing_ = true;
    nodes_[from]->cmd.connection->send({"CLUSTER", "SLOTS"}, [this, from](RedisReply reply) {
      refreshing_ = false;
      if (stopping_) return;
      const auto ranges = parseClusterSlots(reply, nodes_[from]->endpoint.host);
      if (ranges && !ranges->empty()) applyMap(*ranges);
      if (refreshAgain_) {
        refreshAgain_ = false;
        refreshSlots();
      }
    });
  }

  void applyMap(const std::vector<SlotRange>& ranges) {
    slotNode_.assign(kSlotCount, kNoNode);
    std::vector<bool> inMap;
    for (const SlotRange& range : ranges) {
      const std::uint16_t n = nodeFor(range.master);
      if (inMap.size() <= n) inMap.resize(n + 1u, false);
      inMap[n] = true;
      std::fill(slotNode_.begin() + range.first, slotNode_.begin() + range.last + 1, n);
    }
    for (std::uint16_t n = 0; n < nodes_.size(); ++n) {
      Node& node = *nodes_[n];
      node.inMap = n < inMap.size() && inMap[n];
      // A node that serves no slot keeps no subscriptions (its channels move with their slots),
      // nor an idle command connection (a seed that is a replica, a master that was replaced).
      if (!node.inMap && node.sub.connection) node.sub.connection->close("no longer a master");
      if (!node.inMap && node.cmd.connection && node.cmd.connection->pending() == 0)
        node.cmd.connection.reset();
      if (node.inMap && !node.cmd.connection && !node.cmd.waiting) openConn(n, false);
    }
    placeAll();
    updateState();
  }

  // --- commands ---------------------------------------------------------------------------

  std::uint16_t anyNode() const {
    std::uint16_t fallback = kNoNode;
    for (std::uint16_t n = 0; n < nodes_.size(); ++n) {
      if (!nodes_[n]->inMap) continue;
      if (nodes_[n]->cmd.up()) return n;
      if (fallback == kNoNode) fallback = n;
    }
    return fallback;
  }

  void route(RequestPtr request) {
    if (stopping_) return finish(std::move(request), RedisReply::makeError("LINK stopped"));
    if (Clock::now() >= request->deadline)
      return finish(std::move(request),
                    RedisReply::makeError("LINK timeout: no reply within " +
                                          std::to_string(options_.commandTimeoutMs) + " ms"));
    const std::uint16_t n = request->anyNode ? anyNode() : slotNode_[request->slot];
    if (n == kNoNode)
      return finish(std::move(request), RedisReply::makeError("LINK no node serves slot " +
                                                              std::to_string(request->slot)));
    sendTo(n, std::move(request), false);
  }

  void sendTo(std::uint16_t n, RequestPtr request, bool asking) {
    Node& node = *nodes_[n];
    if (!node.cmd.connection) {
      if (node.cmd.waiting)
        return finish(std::move(request),
                      RedisReply::makeError("LINK down: " + node.name + " (reconnecting)"));
      openConn(n, false);
    }
    if (asking) node.cmd.connection->send({"ASKING"}, nullptr);
    // The connection runs every callback exactly once (with a LINK error at worst), so the
    // request travels as a raw pointer and is owned again on the way back: no shared_ptr.
    Request* raw = request.release();
    node.cmd.connection->send(raw->args, [this, raw, n](RedisReply reply) {
      onReply(n, RequestPtr(raw), std::move(reply));
    });
  }

  void onReply(std::uint16_t n, RequestPtr request, RedisReply reply) {
    if (reply.error() && !stopping_) {
      const std::string& text = reply.text;
      const bool moved = startsWith(text, "MOVED ");
      if ((moved || startsWith(text, "ASK ")) && request->redirects < kMaxRedirects) {
        if (const auto redirect = parseRedirect(text, nodes_[n]->endpoint.host)) {
          ++request->redirects;
          const std::uint16_t target = nodeFor(redirect->target);
          if (moved) {
            moved_.fetch_add(1, std::memory_order_relaxed);
            slotNode_[redirect->slot] = target;
            nodes_[target]->inMap = true;
            refreshSlots();
            return sendTo(target, std::move(request), false);
          }
          asks_.fetch_add(1, std::memory_order_relaxed);
          return sendTo(target, std::move(request), true);
        }
      }
      if (startsWith(text, "TRYAGAIN") || startsWith(text, "CLUSTERDOWN") ||
          startsWith(text, "LOADING") || startsWith(text, "MASTERDOWN")) {
        const auto delay = std::chrono::milliseconds(
            std::min<std::int64_t>(25LL << std::min<int>(request->retries, 5), 500));
        if (Clock::now() + delay < request->deadline) {
          ++request->retries;
          retries_.fetch_add(1, std::memory_order_relaxed);
          if (startsWith(text, "CLUSTERDOWN")) refreshSlots();
          return retryLater(std::move(request), delay);
        }
      }
    }
    finish(std::move(request), std::move(reply));
  }

  void retryLater(RequestPtr request, std::chrono::milliseconds delay) {
    const auto timer = timers_.emplace(timers_.end(), io_);
    timer->expires_after(delay);
    timer->async_wait(
        [this, timer, request = std::move(request)](const boost::system::error_code&) mutable {
          timers_.erase(timer);
          route(std::move(request));  // after shutdown began, route fails it with LINK stopped
        });
  }

  void finish(RequestPtr request, RedisReply reply) {
    inflight_.fetch_sub(1, std::memory_order_relaxed);
    if (reply.error() && startsWith(reply.text, "LINK "))
      failed_.fetch_add(1, std::memory_order_relaxed);
    if (request->done) request->done(std::move(reply));
  }

  // --- sharded subscriptions --------------------------------------------------------------

  bool hasChannels(std::uint16_t n) const {
    for (const auto& [channel, where] : wanted_)
      if (slotNode_[hashSlot(channel)] == n) return true;
    return false;
  }

  void place(Wanted::iterator it) {
    if (it->second != kNoNode || stopping_) return;
    const std::uint16_t n = slotNode_[hashSlot(it->first)];
    if (n == kNoNode) return;
    Conn& c = nodes_[n]->sub;
    if (!c.connection) {
      if (!c.waiting) openConn(n, true);  // its connect places what it should hold
      return;
    }
    if (!c.connection->connected()) return;
    it->second = n;
    c.connection->send(
        {"SSUBSCRIBE", it->first},
        [this, n, channel = it->first](RedisReply reply) {
          if (reply.error()) onSubscribeRefused(n, channel, reply);
        },
        RedisConnection::Expect::Subscribe);
  }

  // Re-places what is not placed, and moves what sits on a node that no longer serves its slot.
  void placeAll() {
    if (stopping_) return;
    for (auto it = wanted_.begin(); it != wanted_.end(); ++it) {
      if (it->second != kNoNode && it->second != slotNode_[hashSlot(it->first)]) {
        sendUnsubscribe(it->second, it->first);
        it->second = kNoNode;
      }
      if (it->second == kNoNode) place(it);
    }
  }

  void sendUnsubscribe(std::uint16_t n, const std::string& channel) {
    Conn& c = nodes_[n]->sub;
    if (!c.up()) return;
    ++nodes_[n]->unsubscribing[channel];
    c.connection->send({"SUNSUBSCRIBE", channel}, nullptr, RedisConnection::Expect::Unsubscribe);
  }

  void onSubscribeRefused(std::uint16_t n, const std::string& channel, const RedisReply& reply) {
    const auto it = wanted_.find(channel);
    if (it == wanted_.end() || it->second != n) return;
    it->second = kNoNode;
    if (startsWith(reply.text, "LINK ")) return;  // the connection's reconnect places it again
    if (startsWith(reply.text, "MOVED ")) {
      if (const auto redirect = parseRedirect(reply.text, nodes_[n]->endpoint.host)) {
        moved_.fetch_add(1, std::memory_order_relaxed);
        const std::uint16_t target = nodeFor(redirect->target);
        slotNode_[redirect->slot] = target;
        nodes_[target]->inMap = true;
        refreshSlots();
        return place(it);
      }
    }
    // CLUSTERDOWN, TRYAGAIN and the like: the housekeeping tick places it again.
    retries_.fetch_add(1, std::memory_order_relaxed);
  }

  void onPush(std::uint16_t n, RedisReply& push) {
    const auto& e = push.elements;
    if (e.size() < 2 || e[1].kind != Kind::String) return;
    const std::string& kind = e[0].text;
    const std::string& channel = e[1].text;
    if (kind == "smessage" || kind == "message") {
      if (e.size() < 3) return;
      messages_.fetch_add(1, std::memory_order_relaxed);
      if (handlers_.message) handlers_.message(channel, e[2].text);
      return;
    }
    Node& node = *nodes_[n];
    if (kind == "ssubscribe") {
      const auto it = wanted_.find(channel);
      if (it != wanted_.end() && it->second == n) {
        if (handlers_.subscribed) handlers_.subscribed(channel);
      } else {
        sendUnsubscribe(n, channel);  // given up while the SSUBSCRIBE was on its way
      }
      return;
    }
    if (kind == "sunsubscribe") {
      const auto mine = node.unsubscribing.find(channel);
      if (mine != node.unsubscribing.end()) {
        if (--mine->second == 0) node.unsubscribing.erase(mine);
        return;
      }
      // Redis's own: the slot moved away (or was deleted). Find where it lives now.
      const auto it = wanted_.find(channel);
      if (it == wanted_.end() || it->second != n) return;
      it->second = kNoNode;
      if (cluster_) {
        refreshSlots();  // places it once the new map is in; the tick otherwise
      } else {
        place(it);
      }
    }
  }

  RedisLinkOptions options_;
  Handlers handlers_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer housekeeping_;
  std::thread thread_;

  // Link thread only.
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, std::uint16_t> nodeIndex_;
  std::vector<std::uint16_t> slotNode_;  // slot -> node (kNoNode: unknown)
  Wanted wanted_;
  std::list<asio::steady_timer> timers_;  // after() and retries, cancelled at shutdown
  bool stopping_ = false;
  bool refreshing_ = false;
  bool refreshAgain_ = false;
  std::uint64_t ticks_ = 0;

  // Any thread.
  std::atomic<bool> up_{false};
  std::atomic<bool> cluster_{false};
  std::atomic<std::size_t> inflight_{0};
  std::atomic<std::uint64_t> reconnects_{0}, moved_{0}, asks_{0}, retries_{0}, failed_{0},
      messages_{0};
};

}  // namespace

std::unique_ptr<RedisLink> RedisLink::start(RedisLinkOptions options, Handlers handlers) {
  auto link = std::make_unique<LinkImpl>(std::move(options), std::move(handlers));
  link->startUp();
  return link;
}

}  // namespace parley::cluster
