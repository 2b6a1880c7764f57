// Fuzz target: GoH request decoding (common/goh_request.hpp).
//
// The input is taken as a request target and as a Gopher URL. Checks: form_decode never
// grows its input; a target that parses names a non-empty host, a printable type and a
// selector within the bound and free of CR, LF and NUL (what reaches a backend's request
// line); to_url of a parsed target parses back to the same target.
#include "common/goh_request.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_goh_url.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

void check_url(std::string_view url)
{
    namespace goh = got::goh;
    auto p = goh::parse_gopher_url(url);
    if (!p.target) {
        FUZZ_CHECK(!goh::describe(p.error).empty());
        return;
    }
    auto const& t = *p.target;
    FUZZ_CHECK(!t.host.empty());
    FUZZ_CHECK(t.port != 0);
    FUZZ_CHECK(t.type > 0x20 && t.type < 0x7f);
    FUZZ_CHECK(t.selector.size() <= goh::max_selector);
    FUZZ_CHECK(t.selector.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    auto again = goh::parse_gopher_url(goh::to_url(t));
    FUZZ_CHECK(again.target);
    FUZZ_CHECK(again.target->host == t.host);
    FUZZ_CHECK(again.target->port == t.port);
    FUZZ_CHECK(again.target->type == t.type);
    FUZZ_CHECK(again.target->selector == t.selector);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<char const*>(data), size);
    FUZZ_CHECK(got::goh::form_decode(input).size() <= input.size());
    check_url(input);
    auto path = got::goh::target_path(input);
    FUZZ_CHECK(path.size() <= input.size());
    if (auto url = got::goh::query_parameter(input, "url")) {
        FUZZ_CHECK(url->size() <= input.size());
        check_url(*url);
    }
    return 0;
}
