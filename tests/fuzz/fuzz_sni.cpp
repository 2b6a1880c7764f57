// Fuzz target: server-name normalising and matching (common/sni.hpp).
//
// The first byte picks where the rest splits into a pattern and a name. Checks:
// normalise is idempotent, case-blind and ignores one trailing dot; what it returns is a
// valid, lower-case name that matches itself and the wildcard made for it; `matches` holds
// only for the name itself or for a wildcard standing for exactly its first label.
#include "common/sni.hpp"
#include "sni_match.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_sni.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

std::string upper(std::string_view s)
{
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
    return out;
}

void check_normalise(std::string_view raw)
{
    namespace sni = got::sni;
    auto n = sni::normalise(raw);
    FUZZ_CHECK(sni::normalise(n) == n);
    FUZZ_CHECK(sni::normalise(upper(raw)) == n);
    if (!raw.ends_with('.'))
        FUZZ_CHECK(sni::normalise(std::string(raw) + ".") == n);
    if (n.empty())
        return;
    FUZZ_CHECK(n.size() <= 253);
    FUZZ_CHECK(!n.ends_with('.'));
    FUZZ_CHECK(std::none_of(n.begin(), n.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    FUZZ_CHECK(sni::valid_pattern(n));
    FUZZ_CHECK(!sni::is_wildcard(n));
    FUZZ_CHECK(sni::matches(n, n));
    if (auto w = sni::wildcard_for(n)) {
        FUZZ_CHECK(sni::is_wildcard(*w));
        FUZZ_CHECK(sni::valid_pattern(*w));
        FUZZ_CHECK(sni::matches(*w, n));
        FUZZ_CHECK(n.ends_with(std::string_view(*w).substr(1)));
    }
}

void check_matches(std::string_view pattern, std::string_view raw_name)
{
    namespace sni = got::sni;
    auto name = sni::normalise(raw_name);
    if (!sni::matches(pattern, name))
        return;
    if (!sni::is_wildcard(pattern)) {
        FUZZ_CHECK(pattern == name);
        return;
    }
    // `*.rest` stands for exactly one non-empty label before `.rest`.
    auto rest = pattern.substr(1);
    FUZZ_CHECK(name.size() > rest.size());
    FUZZ_CHECK(std::string_view(name).ends_with(rest));
    auto label = std::string_view(name).substr(0, name.size() - rest.size());
    FUZZ_CHECK(!label.empty() && label.find('.') == std::string_view::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::string_view rest(reinterpret_cast<char const*>(data + 1), size - 1);
    auto split = std::min<std::size_t>(data[0], rest.size());
    auto pattern = rest.substr(0, split);
    auto name = rest.substr(split);
    check_normalise(rest);
    check_normalise(name);
    check_matches(pattern, name);
    check_matches(got::sni::normalise(pattern), name);
    return 0;
}
