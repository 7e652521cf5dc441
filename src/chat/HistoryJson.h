// HistoryJson: stored messages as the frames carry them: one as a ChatMessage (a live frame),
// many as the JSON array of a history frame or page. Formatting only: never reads the store.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "chat/Protocol.h"

namespace parley::store {
struct StoredMessage;
}

namespace parley::chat {

// A view of `m` (it must outlive the view).
ChatMessage chatMessageOf(const store::StoredMessage& m);

// Messages [from, to) of `messages` as a JSON array of message objects (oldest first, as given).
std::string messagesArrayJson(const std::vector<store::StoredMessage>& messages, std::size_t from,
                              std::size_t to);

}  // namespace parley::chat
