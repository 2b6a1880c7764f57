// What a session needs to know about the listener that accepted it. Immutable; a
// reload that changes a listener's settings publishes a new one.
#pragma once

#include "common/config.hpp"
#include "common/metrics.hpp"

#include <string>

namespace got {

struct listener_context
{
    listener_config config;
    std::string name;        // the bound address, `127.0.0.1:7070`
    listener_metrics* stats; // never null
};

} // namespace got
