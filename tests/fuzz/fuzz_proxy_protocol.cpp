// Fuzz target: the PROXY protocol parser (common/proxy_protocol.hpp).
//
// Arbitrary bytes in. Checks, besides the sanitizers:
// - a verdict by `max_proxy_header_size` bytes, and `consumed` within the input;
// - split feeding: every prefix of the input parses as `need_more` up to some length and as
//   the whole input's verdict from there on (a verdict never flips or goes back to
//   `need_more`), and every strict prefix of a header that parses is `need_more`;
// - round trip: a parsed header serialises (in its own version) to bytes that parse back
//   to an equal header, v1 within 107 bytes; a v1 header also survives the v2 form.
#include "common/proxy_protocol.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

namespace {

using got::proxy_parse_result;
using got::proxy_parse_status;

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_proxy_protocol.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

proxy_parse_result parse(std::span<std::uint8_t const> bytes)
{
    return got::parse_proxy_header(bytes);
}

proxy_parse_result parse(std::string const& s)
{
    return parse(std::span(reinterpret_cast<std::uint8_t const*>(s.data()), s.size()));
}

bool same_verdict(proxy_parse_result const& a, proxy_parse_result const& b)
{
    if (a.status != b.status)
        return false;
    if (a.status == proxy_parse_status::done)
        return a.consumed == b.consumed && a.header == b.header;
    return true;
}

void check_round_trip(got::proxy_header const& h)
{
    auto text = h.version == 1 ? got::serialize_proxy_v1(h) : got::serialize_proxy_v2(h);
    FUZZ_CHECK(!text.empty());
    FUZZ_CHECK(h.version != 1 || text.size() <= got::max_proxy_v1_line);
    auto again = parse(text);
    FUZZ_CHECK(again.status == proxy_parse_status::done);
    FUZZ_CHECK(again.consumed == text.size());
    FUZZ_CHECK(again.header == h);

    if (h.version == 1) {
        auto as_v2 = h;
        as_v2.version = 2;
        auto v2 = parse(got::serialize_proxy_v2(h));
        FUZZ_CHECK(v2.status == proxy_parse_status::done);
        FUZZ_CHECK(v2.header == as_v2);
    } else if (h.has_addresses()) {
        auto v1 = parse(got::serialize_proxy_v1(h));
        FUZZ_CHECK(v1.status == proxy_parse_status::done);
        FUZZ_CHECK(v1.header.source_address == h.source_address);
        FUZZ_CHECK(v1.header.destination_address == h.destination_address);
        FUZZ_CHECK(v1.header.source_port == h.source_port);
        FUZZ_CHECK(v1.header.destination_port == h.destination_port);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::span<std::uint8_t const> bytes(data, size);
    auto whole = parse(bytes);
    FUZZ_CHECK(size < got::max_proxy_header_size || whole.status != proxy_parse_status::need_more);
    FUZZ_CHECK((whole.status == proxy_parse_status::invalid) == !whole.reason.empty());
    if (whole.status == proxy_parse_status::done) {
        FUZZ_CHECK(whole.consumed > 0 && whole.consumed <= size);
        FUZZ_CHECK(whole.consumed <= got::max_proxy_header_size);
        FUZZ_CHECK(same_verdict(parse(bytes.first(whole.consumed)), whole));
        check_round_trip(whole.header);
    }

    // Every split point up to the first verdict, and a few past it: what a caller reading
    // the bytes in any chunks would see.
    std::size_t decided_at = size + 1;
    for (std::size_t n = 0; n <= size && n <= decided_at + 8; ++n) {
        auto part = parse(bytes.first(n));
        if (part.status == proxy_parse_status::need_more) {
            FUZZ_CHECK(n < decided_at);
            continue;
        }
        FUZZ_CHECK(same_verdict(part, whole));
        decided_at = std::min(decided_at, n);
    }
    if (whole.status == proxy_parse_status::done)
        FUZZ_CHECK(decided_at == whole.consumed);
    return 0;
}
