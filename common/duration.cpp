#include "duration.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace got {

namespace {

constexpr std::int64_t max_ms = std::int64_t{365} * 24 * 3600 * 1000;
constexpr std::size_t max_digits = 15;

struct unit
{
    std::string_view suffix;
    std::int64_t ms;
};

// `ms` before `m` and `s`: the first suffix that matches wins.
constexpr std::array<unit, 4> units{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

std::string expected_message(std::string_view text)
{
    return "expected a duration with a unit (ms, s, m, h), got \"" + std::string(text) + "\"";
}

// The number before the unit as digits and a count of digits after the point.
struct decimal
{
    std::int64_t digits = 0;
    int scale = 0;
};

std::optional<decimal> parse_decimal(std::string_view number)
{
    decimal d;
    std::size_t count = 0;
    bool seen_point = false;
    bool digit_before_point = false;
    bool digit_after_point = false;
    for (char c : number) {
        if (c == '.' && !seen_point) {
            seen_point = true;
            continue;
        }
        if (!is_digit(c) || ++count > max_digits)
            return std::nullopt;
        d.digits = d.digits * 10 + (c - '0');
        (seen_point ? digit_after_point : digit_before_point) = true;
        if (seen_point)
            ++d.scale;
    }
    if (!digit_before_point || (seen_point && !digit_after_point))
        return std::nullopt;
    return d;
}

} // namespace

parse_result<duration> parse_duration(std::string_view text)
{
    using result = parse_result<duration>;
    if (text.starts_with('-'))
        return result::fail("a duration must not be negative, got \"" + std::string(text) + "\"");
    for (auto const& u : units) {
        if (!text.ends_with(u.suffix))
            continue;
        auto number = parse_decimal(text.substr(0, text.size() - u.suffix.size()));
        if (!number)
            return result::fail(expected_message(text));
        std::int64_t scaled = 0;
        if (__builtin_mul_overflow(number->digits, u.ms, &scaled))
            return result::fail("duration \"" + std::string(text) + "\" is too long");
        std::int64_t divisor = 1;
        for (int i = 0; i < number->scale; ++i)
            divisor *= 10;
        if (scaled % divisor != 0)
            return result::fail("duration \"" + std::string(text) +
                                "\" is not a whole number of milliseconds");
        if (scaled / divisor > max_ms)
            return result::fail("duration \"" + std::string(text) +
                                "\" is too long (at most 365 days)");
        return result::ok(duration(scaled / divisor));
    }
    return result::fail(expected_message(text));
}

} // namespace got
