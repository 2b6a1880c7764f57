// Fuzz target: the router's first-bytes decision (common/classify.hpp), telling TLS from
// plaintext Gopher, under random split schedules.
//
// Input: one schedule byte, then the bytes a client sends. Bit i of the schedule byte puts
// a read boundary after payload byte i+1 (the decisive bytes are the first nine); the rest
// arrives in one piece, as the session's read loop would see it. Checks:
// - appended chunk by chunk, the first decided verdict is the whole input's and never
//   flips or becomes undecided again (the session stops reading at the first verdict);
// - undecided only while fewer than six bytes are in, and only after a 0x16;
// - `plain` exactly when the first byte is neither 0x16 nor 0x80 (nothing that starts
//   like TLS reaches a backend as a selector);
// - every input Boost.Beast's is_tls_client_hello takes for a ClientHello (one that fits
//   its first record) with a 3.x record version is `tls` here too; ours also takes a ClientHello
//   that spans records, and `tls` always means a handshake record whose payload starts with 1.
#include "common/classify.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/logic/tribool.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using got::first_bytes;

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_classifier.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

first_bytes classify(std::span<std::uint8_t const> bytes)
{
    return got::classify(bytes);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size == 0)
        return 0;
    std::uint8_t const schedule = data[0];
    std::span<std::uint8_t const> payload(data + 1, size - 1);

    std::vector<std::size_t> boundaries;
    for (std::size_t i = 0; i < 8 && i + 1 < payload.size(); ++i)
        if (schedule & (1u << i))
            boundaries.push_back(i + 1);
    boundaries.push_back(payload.size());

    auto const whole = classify(payload);
    auto first_decided = first_bytes::need_more;
    for (auto received : boundaries) {
        auto now = classify(payload.first(received));
        if (first_decided == first_bytes::need_more)
            first_decided = now;
        else
            FUZZ_CHECK(now == first_decided);
    }
    FUZZ_CHECK(first_decided == whole);

    if (whole == first_bytes::need_more)
        FUZZ_CHECK(payload.empty() || (payload.size() < 6 && payload[0] == 0x16));
    if (!payload.empty())
        FUZZ_CHECK((whole == first_bytes::plain) == (payload[0] != 0x16 && payload[0] != 0x80));

    if (whole == first_bytes::tls)
        FUZZ_CHECK(payload.size() >= 6 && payload[0] == 0x16 && payload[5] == 0x01);
    boost::tribool beast_verdict =
        beast::detail::is_tls_client_hello(net::buffer(payload.data(), payload.size()));
    // (tribool's && does not short-circuit: test it as a bool first.)
    if (static_cast<bool>(beast_verdict) && payload[1] == 0x03) // Beast skips the version
        FUZZ_CHECK(whole == first_bytes::tls);
    return 0;
}
