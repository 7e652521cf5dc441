// Server: builds the shards, the hub and the listeners from a Config, runs them, and drains them
// on SIGINT/SIGTERM. Never holds a lock on the message path: wiring only.
#pragma once

#include "app/Config.h"

namespace parley::app {

// Runs until SIGINT/SIGTERM; returns the process exit code. Throws at start-up on bad config
// (address in use, ...).
int runServer(const Config& config);

}  // namespace parley::app
