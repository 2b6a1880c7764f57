#include "classify.hpp"

namespace got {

namespace {

constexpr std::uint8_t handshake_record = 0x16;
constexpr std::uint8_t sslv2_hello = 0x80;
constexpr std::uint8_t client_hello = 0x01;
// A ClientHello body is at least 34 bytes (version and random).
constexpr std::uint32_t min_record_payload = 34;

} // namespace

first_bytes classify(std::span<std::uint8_t const> b) noexcept
{
    if (b.empty())
        return first_bytes::need_more;
    if (b[0] != handshake_record)
        return b[0] == sslv2_hello ? first_bytes::bad_tls : first_bytes::plain;
    // Record header: type, version (2), payload length (2).
    if (b.size() < 5)
        return first_bytes::need_more;
    std::uint32_t const record_length = (std::uint32_t{b[3]} << 8) | b[4];
    if (record_length < min_record_payload)
        return first_bytes::bad_tls;
    if (b.size() < 6)
        return first_bytes::need_more;
    if (b[5] != client_hello)
        return first_bytes::bad_tls;
    // Handshake header: type, length (3).
    if (b.size() < 9)
        return first_bytes::need_more;
    std::uint32_t const message_length =
        (std::uint32_t{b[6]} << 16) | (std::uint32_t{b[7]} << 8) | b[8];
    // The message must fit its record (for now: one ClientHello in one record).
    if (message_length + 4 > record_length)
        return first_bytes::bad_tls;
    return first_bytes::tls;
}

} // namespace got
