// Rates as the config writes them: a whole count, a slash and a unit: `20/s`, `600/m`,
// `1000/h`. The count is 0 (no limit) to 1,000,000; nothing else is accepted (no spaces,
// no fractions, no bare number: `20` could mean per second or per minute).
#pragma once

#include "config.hpp"
#include "parse_result.hpp"

#include <string_view>

namespace got {

inline constexpr unsigned max_rate_count = 1'000'000;

parse_result<rate_config> parse_rate(std::string_view text);

} // namespace got
