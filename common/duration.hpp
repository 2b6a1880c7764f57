// Durations as the config writes them: a non-negative number and a unit, `250ms`, `10s`,
// `1.5s`, `5m`, `1h`. A bare number is refused: `10` could mean seconds or milliseconds.
// The result must be a whole number of milliseconds and at most 365 days.
#pragma once

#include "config.hpp"
#include "parse_result.hpp"

#include <string_view>

namespace got {

parse_result<duration> parse_duration(std::string_view text);

} // namespace got
