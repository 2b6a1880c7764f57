// Fuzz target: GoH request decoding (common/goh_request.hpp).
//
// The input is taken as a request target and as a Gopher URL. Checks: form_decode never
// grows its input; a target that parses names a non-empty host, a printable type and a
// selector within the bound and free of CR, LF and NUL (what reaches a backend's request
// line); to_url of a parsed target parses back to the same target. And the plaintext
// HTTP-or-Gopher decision (common/classify.hpp's classify_plain): the first verdict of a
// growing prefix is the whole input's, reached within nine bytes.
#include "common/classify.hpp"
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

void check_plain_kind(std::uint8_t const* data, std::size_t size)
{
    using got::plain_kind;
    auto const whole = got::classify_plain({data, size});
    for (std::size_t n = 0; n <= size; ++n) {
        auto v = got::classify_plain({data, n});
        if (v != plain_kind::need_more) {
            FUZZ_CHECK(v == whole);
            return;
        }
        FUZZ_CHECK(n < 9);
    }
    FUZZ_CHECK(whole == plain_kind::need_more);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<char const*>(data), size);
    check_plain_kind(data, size);
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
