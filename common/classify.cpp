#include "classify.hpp"

#include <algorithm>
#include <string_view>

namespace got {

namespace {

constexpr std::uint8_t handshake_record = 0x16;
constexpr std::uint8_t sslv2_hello = 0x80;
constexpr std::uint8_t tls_major = 0x03;
constexpr std::uint8_t client_hello = 0x01;

constexpr std::string_view http_starts[] = {"GET /",   "HEAD /",   "POST /",
                                            "PUT /",   "DELETE /", "OPTIONS /",
                                            "PATCH /", "TRACE /",  "CONNECT /"};

} // namespace

plain_kind classify_plain(std::span<std::uint8_t const> b) noexcept
{
    bool prefix_of_one = false;
    for (auto start : http_starts) {
        auto n = std::min(b.size(), start.size());
        if (!std::equal(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n), start.begin()))
            continue;
        if (n == start.size())
            return plain_kind::http;
        prefix_of_one = true;
    }
    return prefix_of_one ? plain_kind::need_more : plain_kind::gopher;
}

first_bytes classify(std::span<std::uint8_t const> b) noexcept
{
    if (b.empty())
        return first_bytes::need_more;
    if (b[0] != handshake_record)
        return b[0] == sslv2_hello ? first_bytes::bad_tls : first_bytes::plain;
    // Record header: type, version (2), payload length (2); then the first byte of the
    // payload, the handshake message type. Nothing about the message's length: a
    // ClientHello may span several records (RFC 8446 section 5.1), and OpenSSL puts it
    // together and bounds it.
    if (b.size() < 2)
        return first_bytes::need_more;
    if (b[1] != tls_major)
        return first_bytes::bad_tls;
    if (b.size() < 5)
        return first_bytes::need_more;
    if (b[3] == 0 && b[4] == 0)
        return first_bytes::bad_tls; // an empty handshake record is never sent
    if (b.size() < 6)
        return first_bytes::need_more;
    return b[5] == client_hello ? first_bytes::tls : first_bytes::bad_tls;
}

} // namespace got
