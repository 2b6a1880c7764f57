// Fuzz target: rates as limits.new_connections_per_ip takes them (common/rate.hpp).
//
// Checks: a rate that parses has a count within the bound and a unit of a second, a minute
// or an hour; its text form parses back to the same rate; a refusal always says why.
#include "common/rate.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_rate.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<char const*>(data), size);
    auto r = got::parse_rate(text);
    if (!r) {
        FUZZ_CHECK(!r.error().empty());
        return 0;
    }
    auto const& rate = r.value();
    FUZZ_CHECK(rate.count <= got::max_rate_count);
    FUZZ_CHECK(rate.per == std::chrono::seconds(1) || rate.per == std::chrono::minutes(1) ||
               rate.per == std::chrono::hours(1));
    FUZZ_CHECK(rate.per_second() >= 0 && rate.per_second() <= got::max_rate_count);
    auto again = got::parse_rate(rate.to_string());
    FUZZ_CHECK(again && again.value() == rate);
    return 0;
}
