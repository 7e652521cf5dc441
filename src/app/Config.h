// Config: every tunable of the server, filled from flags and PARLEY_* environment variables.
// Values only: parsing lives in Config.cpp so the rest of the server never sees CLI11.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::app {

// Descriptors kept beyond the connections for the listeners, the store and log files.
inline constexpr std::size_t kSpareDescriptors = 64;
// TCP connections allowed beyond --max-connections WebSockets, for plain HTTP (health checks,
// metrics, logins, refusals) when the WebSockets are at their limit. Taken from the spare
// descriptors above, so the total stays within the open-file limit.
inline constexpr std::size_t kHttpHeadroom = 32;

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  unsigned threads = 0;  // 0: one shard per core
  bool ioUring = true;   // batch each loop turn's socket writes through io_uring if available

  // Limits (docs/PROTOCOL.md).
  std::size_t maxFrameBytes = 64 * 1024;
  std::size_t maxContentChars = 4000;
  std::size_t maxOutboundBytes = 1024 * 1024;
  std::size_t maxConnections = 0;       // 0: derived from the open-file limit
  std::size_t maxConnectionsPerIp = 0;  // 0: no bound per client address
  double maxMessageRate = 30;      // chat messages per second per connection (burst: twice); 0: off
  double maxUserMessageRate = 30;  // per user, all connections together (burst: twice); 0: off
  double maxAddressMessageRate = 100;  // per client address, all connections (burst: twice); 0: off
  std::size_t maxPartialFrameMemory = 64u << 20;  // per shard, in incomplete frames; 0: no bound
  std::size_t maxRoomsPerConnection = 100;        // rooms one connection to /ws may subscribe to

  std::chrono::milliseconds handshakeTimeout{10'000};
  std::chrono::milliseconds pingInterval{30'000};
  std::chrono::milliseconds idleTimeout{75'000};
  std::chrono::milliseconds frameTimeout{10'000};  // to complete a frame once begun; 0: none
  std::chrono::milliseconds shutdownGrace{3'000};

  // History (docs/PROTOCOL.md): "none", "sqlite:PATH" or "postgres://...".
  std::string db = "sqlite:./data/parley.db";
  std::size_t historyOnJoin = 50;
  std::size_t maxReplay = 1000;
  std::size_t retentionMessages = 0;  // per room; 0: keep all
  double retentionDays = 0;           // 0: keep forever
  std::chrono::milliseconds retentionInterval{60'000};
  // SQLite: when the inbox log (and the database) are synced: "none", "batch" or "always"
  // (docs/OPERATIONS.md, "Durability").
  std::string fsync = "batch";

  // Accounts and tokens (docs/PROTOCOL.md, "Accounts and tokens").
  bool authRequired = false;  // true: a WebSocket needs a valid token (--auth required)
  std::string jwtSecret;      // empty: a random one per process (its tokens die with it)
  std::int64_t tokenTtlSeconds = 86'400;
  double loginAttemptsPerMinute = 10;  // per client address, register and login together
  // Wrong passwords an hour for one name from addresses that have not logged into it lately
  // (auth::LoginLimits::accountBudgetPerHour).
  double loginAccountBudget = 30;
  std::size_t authQueue = 32;  // attempts waiting for the password hasher (~0.1 s each)
  // The server API's key (docs/PROTOCOL.md, "Server API"): from PARLEY_API_KEY only, never a
  // flag (a flag shows in ps). Empty: the API's routes answer 404.
  std::string apiKey;

  // Tokens from the application's identity provider (docs/OPERATIONS.md, "Under an existing
  // login"): RS256/ES256, checked against the keys of a JWKS file or URL. Empty: none.
  std::string jwks;
  std::string tokenIssuer;                            // required with jwks
  std::string tokenAudience;                          // required with jwks
  std::string tokenNameClaim = "preferred_username";  // else "sub"
  std::int64_t tokenClockSkewSeconds = 60;
  std::chrono::milliseconds jwksRefresh{600'000};

  // Web pages that may open a WebSocket (docs/PROTOCOL.md, "Connecting"): exact origins or "*";
  // empty: the server's own origin only. Clients that send no Origin are not affected.
  std::vector<std::string> allowedOrigins;

  // Many instances as one (docs/OPERATIONS.md, "Running many instances"): Redis addresses
  // ("redis://h:p[,h:p...]"; empty: a single server), this instance's name (empty: host name and
  // a random suffix), and how long a room bucket's lease lasts.
  std::string cluster;
  std::string instanceId;
  std::int64_t clusterLeaseMs = 5000;
  // Longest wait of a commit for the rest of a wave of sends under heavy load
  // (store::StoreWriter, decision 0046); -1: 15 ms with --cluster, 0 (never) without.
  std::int64_t commitLingerMs = -1;
};

// Parses argv (and PARLEY_* variables). Returns the config, or nothing with `exitCode` set when
// the process should exit now (--help, or a bad flag: the message has been printed).
std::optional<Config> parseConfig(int argc, char** argv, int& exitCode);

}  // namespace parley::app
