#include "rate.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace got {

namespace {

struct unit
{
    std::string_view suffix;
    duration per;
};

constexpr std::array<unit, 3> units{
    {{"s", std::chrono::seconds(1)}, {"m", std::chrono::minutes(1)}, {"h", std::chrono::hours(1)}}};

std::string expected_message(std::string_view text)
{
    return "expected a rate like 20/s, 600/m or 1000/h, got \"" + std::string(text) + "\"";
}

} // namespace

parse_result<rate_config> parse_rate(std::string_view text)
{
    using result = parse_result<rate_config>;
    auto slash = text.find('/');
    if (slash == text.npos || slash == 0)
        return result::fail(expected_message(text));
    auto digits = text.substr(0, slash);
    auto suffix = text.substr(slash + 1);
    auto u = std::find_if(units.begin(), units.end(),
                          [suffix](unit const& x) { return x.suffix == suffix; });
    if (u == units.end() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return result::fail(expected_message(text));
    rate_config rate;
    rate.per = u->per;
    for (char c : digits) {
        rate.count = rate.count * 10 + static_cast<unsigned>(c - '0');
        if (rate.count > max_rate_count)
            return result::fail("rate \"" + std::string(text) + "\" is too high: at most " +
                                std::to_string(max_rate_count) + " per unit");
    }
    return result::ok(rate);
}

} // namespace got
