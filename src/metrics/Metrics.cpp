#include "metrics/Metrics.h"

#include <array>
#include <cstdio>

namespace parley::metrics {

namespace {

constexpr std::array<std::string_view, static_cast<unsigned>(Rejection::Count)> kRejectionNames = {
    "invalid_room",
    "invalid_username",
    "server_full",
    "upgrade_required",
    "not_found",
    "method_not_allowed",
    "bad_request",
    "invalid_json",
    "invalid_message",
    "empty_content",
    "content_too_long",
    "unknown_type",
    "invalid_client_id",
    "rate_limited",
    "invalid_token",
    "token_expired",
    "auth_required",
    "username_mismatch",
    "invalid_password",
    "username_taken",
    "invalid_credentials",
    "too_many_attempts",
    "auth_busy",
    "username_reserved",
    "origin_not_allowed",
    "too_many_connections",
    "not_subscribed",
    "already_subscribed",
    "too_many_rooms",
    "user_rate_limited",
    "address_rate_limited",
    "room_not_granted",
    "read_only",
    "token_not_renewable",
    "not_allowed",
    "invalid_api_key",
    "no_store",
    "not_a_member",
    "banned",
    "not_room_admin",
    "room_exists"};

void line(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  out.append(name);
  out.append(labels);
  out.push_back(' ');
  out.append(std::to_string(value));
  out.push_back('\n');
}

}  // namespace

Rejection rejectionForCode(std::string_view errorCode) {
  for (unsigned i = 0; i < kRejectionNames.size(); ++i)
    if (kRejectionNames[i] == errorCode) return static_cast<Rejection>(i);
  return Rejection::BadRequest;
}

void Metrics::disconnect(std::uint16_t code) {
  unsigned i = 0;
  while (i < kCodeCount && kCodes[i] != code) ++i;
  disconnects_[i].fetch_add(1, relaxed);
}

std::string Metrics::renderPrometheus(std::string_view extra) const {
  std::string out;
  out.reserve(4096);
  out.append("# HELP parley_rejected_total Inputs refused, by reason.\n");
  out.append("# TYPE parley_rejected_total counter\n");
  for (unsigned i = 0; i < kRejectionNames.size(); ++i)
    line(out, "parley_rejected_total", "{reason=\"" + std::string(kRejectionNames[i]) + "\"}",
         rejected_[i].load(relaxed));
  out.append(
      "# HELP parley_disconnects_total WebSocket connections ended, by close code "
      "(1006: the peer vanished without a close).\n");
  out.append("# TYPE parley_disconnects_total counter\n");
  for (unsigned i = 0; i < kCodeCount; ++i)
    line(out, "parley_disconnects_total", "{code=\"" + std::to_string(kCodes[i]) + "\"}",
         disconnects_[i].load(relaxed));
  line(out, "parley_disconnects_total", "{code=\"other\"}", disconnects_[kCodeCount].load(relaxed));
  out.append("# TYPE parley_connections gauge\n");
  line(out, "parley_connections", "", static_cast<std::uint64_t>(open_.load(relaxed)));
  out.append("# TYPE parley_connections_accepted_total counter\n");
  line(out, "parley_connections_accepted_total", "", accepted_.load(relaxed));
  out.append("# TYPE parley_messages_received_total counter\n");
  line(out, "parley_messages_received_total", "", received_.load(relaxed));
  out.append("# HELP parley_frames_delivered_total Frames queued to WebSocket clients.\n");
  out.append("# TYPE parley_frames_delivered_total counter\n");
  line(out, "parley_frames_delivered_total", "", delivered_.load(relaxed));
  out.append("# HELP parley_write_calls_total Gather writes to client sockets.\n");
  out.append("# TYPE parley_write_calls_total counter\n");
  line(out, "parley_write_calls_total", "", writes_.load(relaxed));
  out.append(
      "# HELP parley_write_batches_total io_uring submissions, each carrying up to 64 of the "
      "writes (0 with --io-uring off or without io_uring).\n");
  out.append("# TYPE parley_write_batches_total counter\n");
  line(out, "parley_write_batches_total", "", writeBatches_.load(relaxed));
  out.append(
      "# HELP parley_auth_total Accounts registered, logins, and tokens renewed (over HTTP or "
      "on a WebSocket).\n");
  out.append("# TYPE parley_auth_total counter\n");
  static constexpr std::string_view kAuthEvents[] = {"registered", "logged_in", "renewed"};
  for (unsigned i = 0; i < std::size(kAuthEvents); ++i)
    line(out, "parley_auth_total", "{event=\"" + std::string(kAuthEvents[i]) + "\"}",
         auth_[i].load(relaxed));
  out.append(extra);
  return out;
}

}  // namespace parley::metrics
