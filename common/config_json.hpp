// The running config as JSON, for the admin endpoint's /config: every setting and
// file path, never key material.
#pragma once

#include "config.hpp"

#include <string>

namespace got {

std::string config_to_json(config const& cfg);

} // namespace got
