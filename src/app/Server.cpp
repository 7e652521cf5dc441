#include "app/Server.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "app/ClusterNode.h"
#include "auth/AccountDirectory.h"
#include "auth/AppTokenVerifier.h"
#include "auth/AuthService.h"
#include "auth/JwksFetcher.h"
#include "auth/LoginThrottle.h"
#include "auth/OriginPolicy.h"
#include "auth/PasswordHasher.h"
#include "auth/RoomAccess.h"
#include "auth/RoomService.h"
#include "auth/TokenService.h"
#include "chat/Hub.h"
#include "http/Router.h"
#include "metrics/Metrics.h"
#include "net/HttpGet.h"
#include "net/Listener.h"
#include "net/Shard.h"
#include "net/WsCodec.h"
#include "net/WsSession.h"
#include "store/AccountStore.h"
#include "store/StoreConnection.h"
#include "store/StoreMaintainer.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::app {

namespace {

// Client addresses whose register/login attempts are remembered (~100 bytes each).
constexpr std::size_t kThrottledAddresses = 65'536;

void log(const char* fmt, auto... args) {
  std::fprintf(stderr, fmt, args...);
  std::fputc('\n', stderr);
}

net::NetOptions netOptionsOf(const Config& config) {
  net::NetOptions o;
  o.ioUring = config.ioUring;
  o.maxFrameBytes = config.maxFrameBytes;
  o.maxOutboundBytes = config.maxOutboundBytes;
  o.maxConnections = config.maxConnections;
  o.authRequired = config.authRequired;
  o.handshakeTimeout = config.handshakeTimeout;
  o.pingInterval = config.pingInterval;
  o.idleTimeout = config.idleTimeout;
  o.frameTimeout = config.frameTimeout;
  o.maxPartialBytesPerShard = config.maxPartialFrameMemory;
  o.shutdownGrace = config.shutdownGrace;
  return o;
}

}  // namespace

int runServer(const Config& config) {
  metrics::Metrics metrics;
  // Declared before the shards: their sessions give their places back as they go.
  net::ConnectionGate gate(config.maxConnections + kHttpHeadroom, config.maxConnectionsPerIp);
  std::vector<std::unique_ptr<net::Shard>> shards;

  // The store: one writing thread (ids + group commit), one reading thread and (SQLite) one
  // idle-priority checkpointing thread, each with its own connection. Opening fails loudly here, at
  // start-up, never later.
  std::unique_ptr<store::StoreWriter> writer;
  std::unique_ptr<store::StoreReader> reader;
  std::unique_ptr<store::StoreMaintainer> maintainer;
  store::StoreOptions options;
  options.fsync = store::parseFsyncPolicy(config.fsync).value_or(store::FsyncPolicy::Batch);
  if (config.db != "none") {
    store::Retention retention;
    retention.keepPerRoom = config.retentionMessages;
    retention.maxAgeMs = static_cast<std::int64_t>(config.retentionDays * 86'400'000.0);
    retention.everyMs = config.retentionInterval.count();
    const std::int64_t lingerMs =
        config.commitLingerMs >= 0 ? config.commitLingerMs : (config.cluster.empty() ? 0 : 15);
    writer = std::make_unique<store::StoreWriter>(store::openStore(config.db, options), retention,
                                                  std::chrono::milliseconds(lingerMs));
    reader = std::make_unique<store::StoreReader>(store::openStore(config.db, options));
    if (auto own = store::openStore(config.db, options); own->wantsMaintenance())
      maintainer = std::make_unique<store::StoreMaintainer>(std::move(own));
    if (writer->kind() == "sqlite")
      log("store: sqlite (%s), fsync %s", config.db.c_str(),
          std::string(store::fsyncPolicyName(options.fsync)).c_str());
    else
      log("store: %s (%s)", std::string(writer->kind()).c_str(), config.db.c_str());
  } else {
    log("store: none (messages are not kept)");
  }

  // With --cluster: Redis first (a start-up failure stops here, loudly), then the rooms' owner is
  // the cluster's.
  std::unique_ptr<ClusterNode> clusterNode;
  if (!config.cluster.empty()) {
    clusterNode = std::make_unique<ClusterNode>(config);
    log("cluster: instance %s, redis %s", clusterNode->instanceId().c_str(),
        config.cluster.c_str());
  }

  // Who may be in which registered room: read by every shard, written by the rooms thread
  // (made below, once the accounts are loaded), which loads it from the store.
  auth::RoomAccess roomAccess;
  chat::HubEnvironment rooms;
  rooms.shardCount = config.threads;
  rooms.post = [&shards](std::size_t shard, std::function<void()> task) {
    boost::asio::post(shards[shard]->io(), std::move(task));
  };
  rooms.wake = [&shards](std::size_t shard, std::int64_t dueMs) { shards[shard]->wakeAt(dueMs); };
  rooms.encode = &net::makeTextFrame;
  rooms.unixClock = &net::unixMillis;
  rooms.steadyClock = &net::steadyMillis;
  rooms.writer = writer.get();
  rooms.reader = reader.get();
  rooms.access = &roomAccess;
  rooms.options.historyOnJoin = config.historyOnJoin;
  rooms.options.maxReplay = config.maxReplay;
  if (clusterNode) rooms.makeOwner = clusterNode->ownerFactory();
  chat::Hub hub(std::move(rooms));

  // Accounts: hashing on the AuthService's own thread, with its own store connection (none
  // with --db none: accounts then live as long as the process, like the messages).
  const auth::PasswordHasher hasher;
  std::string secret = config.jwtSecret;
  if (secret.empty()) {
    secret = auth::TokenService::randomSecret();
    log("auth: no --jwt-secret: tokens are signed with a random key and die with this process");
  }
  auth::TokenService tokens(std::move(secret), config.tokenTtlSeconds);
  // The application's tokens (--jwks): checked on the shards against keys the fetcher's thread
  // keeps fresh. Both live until every shard has stopped.
  std::unique_ptr<auth::AppTokenVerifier> appTokens;
  std::unique_ptr<auth::JwksFetcher> jwksFetcher;
  if (!config.jwks.empty()) {
    appTokens = std::make_unique<auth::AppTokenVerifier>(
        auth::AppTokenOptions{config.tokenIssuer, config.tokenAudience, config.tokenNameClaim,
                              config.tokenClockSkewSeconds});
    auth::JwksFetcher::Options fetch;
    fetch.source = config.jwks;
    fetch.refreshInterval = config.jwksRefresh;
    jwksFetcher = std::make_unique<auth::JwksFetcher>(
        std::move(fetch), *appTokens,
        [](const std::string& url, std::string& body, std::string& error) {
          return net::httpGet(url, std::chrono::seconds(10), 1 << 20, body, error);
        },
        [](const std::string& line) { log("%s", line.c_str()); });
    std::string error;
    if (!jwksFetcher->fetchNow(error)) {
      // A file is this machine's own configuration: wrong is fatal. A provider that is down
      // now may be up in a moment: its tokens are refused until the keys come.
      if (!auth::JwksFetcher::isUrl(config.jwks))
        throw std::runtime_error("--jwks " + config.jwks + ": " + error);
      log("jwks: no keys yet: tokens from %s are refused until a fetch succeeds",
          config.tokenIssuer.c_str());
    }
    appTokens->onUnknownKey([fetcher = jwksFetcher.get()] { fetcher->refetchSoon(); });
    tokens.acceptAppTokens(appTokens.get());
    jwksFetcher->start();
    log("auth: tokens from %s for %s accepted (RS256/ES256, name from \"%s\", clock skew %llds)",
        config.tokenIssuer.c_str(), config.tokenAudience.c_str(), config.tokenNameClaim.c_str(),
        static_cast<long long>(config.tokenClockSkewSeconds));
  }
  auth::LoginThrottle loginThrottle(std::max(1.0, config.loginAttemptsPerMinute),
                                    config.loginAttemptsPerMinute / 60.0, kThrottledAddresses);
  auth::AccountDirectory accountNames;
  auto accounts = std::make_unique<auth::AuthService>(
      config.db != "none" ? store::openStore(config.db, options) : nullptr, accountNames, hasher,
      tokens, &net::unixMillis, config.authQueue,
      auth::LoginLimits{.accountBudgetPerHour = config.loginAccountBudget});
  log("auth: %s; %zu registered name%s",
      config.authRequired ? "required (every WebSocket needs a token)"
                          : "open (tokens verified when given)",
      accountNames.size(), accountNames.size() == 1 ? "" : "s");
  if (accountNames.full())
    log("auth: more accounts than %zu: names registered past that are not reserved in open mode",
        auth::AccountDirectory::kDefaultMaxNames);
  // Registered rooms (private rooms, direct messages, bans): changed on a thread of their own
  // with its own store connection; loaded into roomAccess here.
  auto roomService = std::make_unique<auth::RoomService>(
      config.db != "none" ? store::openStore(config.db, options) : nullptr, roomAccess,
      accountNames, &net::unixMillis);
  log("rooms: %zu registered room%s", roomAccess.size(), roomAccess.size() == 1 ? "" : "s");
  // (Also makes ICU's tables now, at start-up, and fails here if it cannot.)
  log("names: one account per look (%s)", store::accountKeyRule().c_str());

  http::RouterContext routes{hub,
                             metrics,
                             writer.get(),
                             tokens,
                             *accounts,
                             loginThrottle,
                             net::unixMillis(),
                             config.authRequired,
                             [&shards](std::size_t shard, std::function<void()> task) {
                               boost::asio::post(shards[shard]->io(), std::move(task));
                             },
                             &net::unixMillis,
                             &net::steadyMillis,
                             [&gate] { return gate.open(); },
                             {},
                             {},
                             {},
                             config.apiKey,
                             {config.maxContentChars},
                             {},
                             roomAccess,
                             roomService.get()};
  // DELETE /api/users/{user}/connections: every shard closes the user's connections (4009),
  // and the count goes back to the asking shard once all have answered.
  // With --cluster, the other instances are told too (ClusterNode::disconnectEverywhere) and
  // close theirs as they hear it; the count is this instance's.
  auto closeHere = [&shards](const std::string& username) {
    for (auto& shard : shards)
      boost::asio::post(shard->io(), [&shard = *shard, username] {
        shard.closeUser(username, net::close_code::kDisconnectedByServer,
                        "disconnected by the application");
      });
  };
  if (clusterNode) clusterNode->onDisconnectUser(closeHere);
  // Another instance changed a room's members or bans in the shared store: read them again,
  // then cut here whoever they no longer admit.
  if (clusterNode && roomService)
    clusterNode->onAccessChanged([node = clusterNode.get(), service = roomService.get()](
                                     const std::string& room, bool mayRefuse) {
      service->reload([node, room, mayRefuse](bool ok) {
        if (ok && mayRefuse) node->evictHere(room);
      });
    });
  routes.disconnectUser = [&shards, node = clusterNode.get()](
                              std::size_t from, std::string username,
                              std::function<void(std::size_t)> done) {
    if (node) node->disconnectEverywhere(username);
    struct Tally {
      std::atomic<std::size_t> closed{0};
      std::atomic<std::size_t> waiting{0};
      std::string username;
      std::function<void(std::size_t)> done;
    };
    auto tally = std::make_shared<Tally>();
    tally->waiting = shards.size();
    tally->username = std::move(username);
    tally->done = std::move(done);
    for (auto& shard : shards)
      boost::asio::post(shard->io(), [&shards, &shard = *shard, tally, from] {
        tally->closed += shard.closeUser(tally->username, net::close_code::kDisconnectedByServer,
                                         "disconnected by the application");
        if (--tally->waiting == 0)
          boost::asio::post(shards[from]->io(), [tally] { tally->done(tally->closed.load()); });
      });
  };
  if (!config.apiKey.empty()) log("api: the server API is on (PARLEY_API_KEY)");
  http::Router router(std::move(routes));
  if (clusterNode)
    router.setCluster([&node = *clusterNode] { return node.health(); },
                      [&node = *clusterNode](std::string_view room) { return node.ownerOf(room); },
                      [&node = *clusterNode] { return node.metricsText(); });

  const net::NetOptions netOptions = netOptionsOf(config);
  const auth::OriginPolicy origins(config.allowedOrigins);
  // The message rate limits across connections: tables shared by every shard (1 MiB each,
  // whatever the number of users or addresses), made only when the limit is on.
  std::unique_ptr<chat::RateBucketTable> userRates, addressRates;
  if (config.maxUserMessageRate > 0)
    userRates = std::make_unique<chat::RateBucketTable>(config.maxUserMessageRate,
                                                        2 * config.maxUserMessageRate);
  if (config.maxAddressMessageRate > 0)
    addressRates = std::make_unique<chat::RateBucketTable>(config.maxAddressMessageRate,
                                                           2 * config.maxAddressMessageRate);
  const chat::ConversationOptions conversationOptions{{config.maxContentChars},
                                                      config.maxMessageRate,
                                                      config.maxRoomsPerConnection,
                                                      userRates.get(),
                                                      addressRates.get()};
  net::ServerContext ctx{netOptions, conversationOptions, hub,     router, metrics,
                         tokens,     accountNames,        origins, gate};

  for (unsigned i = 0; i < config.threads; ++i)
    shards.push_back(std::make_unique<net::Shard>(i, ctx));

  const boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address(config.host),
                                                config.port);
  std::vector<std::unique_ptr<net::Listener>> listeners;
  for (auto& shard : shards) {
    // With port 0 the first bind picks the port; the other shards share it.
    auto ep = endpoint;
    if (!listeners.empty()) ep.port(listeners.front()->port());
    listeners.push_back(std::make_unique<net::Listener>(*shard, ep));
  }

  // Signals are waited for on the main thread, which otherwise only supervises.
  boost::asio::io_context mainIo;
  boost::asio::signal_set signals(mainIo, SIGINT, SIGTERM);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    listeners[i]->start();
    shards[i]->startTimers();
    threads.emplace_back([&shard = *shards[i], i] {
      const std::string name = "shard-" + std::to_string(i);  // for top -H, perf, /proc
      pthread_setname_np(pthread_self(), name.c_str());
      shard.run();
    });
  }
  if (clusterNode) clusterNode->start();
  log("parley listening on http://%s:%u (%u shard%s)", config.host.c_str(),
      static_cast<unsigned>(listeners.front()->port()), config.threads,
      config.threads == 1 ? "" : "s");

  int signalNumber = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) signalNumber = sig;
  });
  mainIo.run();
  log("signal %d: closing connections with 1001", signalNumber);

  // Others take this instance's rooms now, not when its leases lapse.
  if (clusterNode) clusterNode->stop();
  ctx.stopping.store(true);
  for (std::size_t i = 0; i < shards.size(); ++i)
    boost::asio::post(shards[i]->io(), [&listener = *listeners[i], &shard = *shards[i]] {
      listener.stop();
      shard.closeAll(net::close_code::kGoingAway, "server shutting down");
    });
  // Clients normally answer the close within milliseconds; the grace period bounds the wait.
  const auto deadline =
      std::chrono::steady_clock::now() + config.shutdownGrace + std::chrono::milliseconds(500);
  while (metrics.openConnections() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  for (auto& shard : shards) shard->io().stop();
  for (auto& t : threads) t.join();
  // The store threads finish what they hold (their answers are posted to loops that no longer
  // run, and dropped); they go before the hub they call into.
  accounts.reset();
  // The link's thread calls into the hub's owner: it stops before the hub goes.
  clusterNode.reset();
  roomService.reset();  // before the router whose answers it would call
  reader.reset();
  writer.reset();
  log("stopped");
  return 0;
}

}  // namespace parley::app
