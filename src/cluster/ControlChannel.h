// ControlChannel: the one channel every instance of a cluster subscribes to, for what concerns
// them all and is rare: a user to disconnect everywhere (the server API), a registered room whose
// access changed (members, bans: each instance reads the rooms again and evicts). Its messages
// are Envelopes whose first field is the sending instance (which skips its own). Never carries
// chat traffic: that goes on the rooms' channels, spread over the slots.
#pragma once

#include <string_view>

namespace parley::cluster {

inline constexpr std::string_view kControlChannel = "parley:control";

// Envelope kinds on the control channel.
inline constexpr char kControlDisconnect = 'U';     // fields: instance, username
inline constexpr char kControlAccessChanged = 'R';  // fields: instance, room (may refuse someone)
inline constexpr char kControlAccessGranted = 'G';  // fields: instance, room (refuses no one more)

}  // namespace parley::cluster
