// UpgradeTarget: how the WebSocket upgrade reads its request target, step for step as
// checkUpgrade() in net/HttpSession.cpp does it (Boost.URL parse_origin_form, the percent-decoded
// path segments and query parameters, chat/Names' rules, http/Routes' parseUnsigned for since),
// for the fuzz targets that cannot reach that function: it is private to HttpSession.cpp, which
// is being reworked. Keep the two in step; once the upgrade's target reading is a function of its
// own, call it instead. Never used by the server.
#pragma once

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chat/Names.h"

namespace parley::fuzz {

struct UpgradeTarget {
  // The refusal's code ("" when the target passed), as the upgrade would answer it.
  std::string_view refusal;
  bool parsed = false;  // parse_origin_form accepted the target
  std::string room;
  std::string username = "anonymous";
  bool namedUser = false;
  std::optional<std::string> token;
  std::optional<std::uint64_t> since;
};

// http/Routes' parseUnsigned (up to 19 digits), inlined: Routes.cpp drags in the hub and metrics.
inline std::optional<std::uint64_t> parseSince(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// `target` is a request target whose path starts with "/ws/" (the router sends no other here).
inline UpgradeTarget readUpgradeTarget(std::string_view target) {
  UpgradeTarget up;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    const std::string_view path = target.substr(0, target.find('?'));
    up.refusal = boost::urls::parse_origin_form(path) ? "invalid_username" : "invalid_room";
    return up;
  }
  up.parsed = true;
  auto segments = url->segments();
  auto it = segments.begin();
  ++it;  // "ws"
  if (it != segments.end()) up.room = *it++;
  if (it != segments.end()) {
    up.refusal = "invalid_room";
    return up;
  }
  if (chat::roomNameError(up.room)) {
    up.refusal = "invalid_room";
    return up;
  }
  auto params = url->params();
  const auto named = params.find("username");
  if (named != params.end()) {
    up.namedUser = true;
    up.username = (*named).has_value ? std::string((*named).value) : std::string();
    if (chat::usernameError(up.username)) {
      up.refusal = "invalid_username";
      return up;
    }
  }
  if (auto t = params.find("token"); t != params.end()) up.token = std::string((*t).value);
  if (auto s = params.find("since"); s != params.end()) {
    up.since = parseSince((*s).value);
    if (!up.since) up.refusal = "invalid_since";
  }
  return up;
}

}  // namespace parley::fuzz
