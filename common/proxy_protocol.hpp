// The PROXY protocol (HAProxy's spec, versions 1 and 2): reading the header a load
// balancer puts before a client's bytes, and writing one before the bytes sent to a backend.
//
// `parse_proxy_header` is a plain function over the bytes received so far. It never reads
// past them, never throws, and gives a verdict other than `need_more` by
// `max_proxy_header_size` bytes at the latest. Once it gives a verdict other than
// `need_more`, more bytes never change it: call it again on the grown buffer after
// `need_more`, and after `done` hand the bytes past `consumed` to the classifier.
//
// Parsing is strict. v1: exactly `PROXY TCP4|TCP6 src dst sport dport\r\n` with single
// spaces, addresses of the named family, ports 0..65535 without sign or leading zeros, at
// most 107 bytes; `PROXY UNKNOWN` may carry anything up to the CRLF, which is ignored as the
// spec says. v2: version 2, command LOCAL or PROXY, one of the seven defined families, a
// length that holds the family's address block and at most `max_proxy_header_size` bytes in
// all; TLVs bounded by the length and by `max_proxy_tlvs`, a CRC32C TLV verified.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace got {

// The longest header accepted, v2 included (a v1 line is at most 107 bytes).
inline constexpr std::size_t max_proxy_header_size = 4096;
inline constexpr std::size_t max_proxy_v1_line = 107;
// TLVs in one v2 header, SSL sub-TLVs included.
inline constexpr std::size_t max_proxy_tlvs = 32;
// The spec's bound on PP2_TYPE_UNIQUE_ID.
inline constexpr std::size_t max_proxy_unique_id = 128;

enum class proxy_command : std::uint8_t
{
    local = 0, // v2 LOCAL (health checks), v1 UNKNOWN: keep the peer address
    proxy = 1, // the addresses are the client's
};

enum class proxy_family : std::uint8_t
{
    unspec, // v1 UNKNOWN, v2 AF_UNSPEC: no addresses
    tcp4,
    tcp6,
    udp4,        // v2 only; addresses kept but not used: a stream has no UDP client
    udp6,        // v2 only; as udp4
    unix_stream, // v2 only; the 216-byte address block is skipped, paths are not kept
    unix_dgram,  // v2 only; as unix_stream
};

// v2 TLV type numbers (PP2_TYPE_*, PP2_SUBTYPE_*) and SSL client bits (PP2_CLIENT_*).
namespace proxy_tlv_type {
inline constexpr std::uint8_t alpn = 0x01;
inline constexpr std::uint8_t authority = 0x02;
inline constexpr std::uint8_t crc32c = 0x03;
inline constexpr std::uint8_t noop = 0x04;
inline constexpr std::uint8_t unique_id = 0x05;
inline constexpr std::uint8_t ssl = 0x20;
inline constexpr std::uint8_t ssl_version = 0x21;
inline constexpr std::uint8_t ssl_cn = 0x22;
inline constexpr std::uint8_t ssl_cipher = 0x23;
inline constexpr std::uint8_t netns = 0x30;
} // namespace proxy_tlv_type

namespace proxy_ssl_client {
inline constexpr std::uint8_t ssl = 0x01;       // the client came in over SSL/TLS
inline constexpr std::uint8_t cert_conn = 0x02; // it presented a certificate on this connection
inline constexpr std::uint8_t cert_sess = 0x04; // ... on this connection or a resumed session
} // namespace proxy_ssl_client

struct proxy_tlv
{
    std::uint8_t type = 0;
    std::string value; // raw bytes

    bool operator==(proxy_tlv const&) const = default;
};

// PP2_TYPE_SSL.
struct proxy_ssl_tlv
{
    std::uint8_t client = 0;            // proxy_ssl_client bits
    std::uint32_t verify = 0;           // 0: certificate verified (HAProxy also sends 0 for none)
    std::optional<std::string> version; // PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3"
    std::vector<proxy_tlv> sub_tlvs;    // the other sub-TLVs (CN, cipher, ...), in order

    bool operator==(proxy_ssl_tlv const&) const = default;
};

struct proxy_header
{
    int version = 2; // 1 or 2: the format it came in (serialisation picks its own)
    proxy_command command = proxy_command::local;
    proxy_family family = proxy_family::unspec;
    // Network byte order. IPv4 uses the first 4 bytes; the rest stay zero.
    std::array<std::uint8_t, 16> source_address{};
    std::array<std::uint8_t, 16> destination_address{};
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;

    // v2 TLVs. A CRC32C TLV is verified and NOOP TLVs are skipped; neither is kept.
    std::optional<std::string> alpn;      // PP2_TYPE_ALPN
    std::optional<std::string> authority; // PP2_TYPE_AUTHORITY: the client's SNI; raw bytes
    std::optional<std::string> unique_id; // PP2_TYPE_UNIQUE_ID, at most 128 bytes
    std::optional<proxy_ssl_tlv> ssl;     // PP2_TYPE_SSL
    std::vector<proxy_tlv> other_tlvs;    // any other type (NETNS, 0xE0..0xEF custom), in order

    // Whether the source address replaces the peer's: PROXY over TCP/IPv4 or TCP/IPv6.
    // Otherwise (LOCAL, UNKNOWN, unspec, UDP, unix) the caller keeps the peer address.
    bool has_addresses() const
    {
        return command == proxy_command::proxy &&
               (family == proxy_family::tcp4 || family == proxy_family::tcp6);
    }

    bool operator==(proxy_header const&) const = default;
};

enum class proxy_parse_status
{
    need_more, // the bytes are a strict prefix of a header that may still be valid
    not_proxy, // the bytes do not start with either signature: there is no header
    invalid,   // a PROXY header, but malformed: close the connection
    done,      // `header` holds it and it took `consumed` bytes
};

struct proxy_parse_result
{
    proxy_parse_status status = proxy_parse_status::need_more;
    proxy_header header;      // when done
    std::size_t consumed = 0; // when done
    // When invalid: what was wrong, a fixed string fit for a log line or a metric label.
    std::string_view reason;
};

proxy_parse_result parse_proxy_header(std::span<std::uint8_t const> bytes);

// `PROXY TCP4|TCP6 ...\r\n` for a header with addresses, `PROXY UNKNOWN\r\n` otherwise
// (v1 has no LOCAL, UDP or unix). TLVs cannot be carried and are dropped.
std::string serialize_proxy_v1(proxy_header const& h);

// The binary form with the header's command, family, addresses and TLVs (ALPN, authority,
// SSL with its version, unique id, then the others). Empty when the header breaks a bound
// the parser enforces (unique id over 128 bytes, more than `max_proxy_tlvs` TLVs, over
// `max_proxy_header_size` in all, a TLV type in `other_tlvs` that has its own field), so a
// non-empty result always parses back to an equal header (version aside).
std::string serialize_proxy_v2(proxy_header const& h);

// The address as text (`192.0.2.1`, `2001:db8::1`) for tcp4/udp4 and tcp6/udp6; empty for
// the other families.
std::string format_proxy_address(proxy_family family, std::array<std::uint8_t, 16> const& a);

// The printable name of a status, for logs and tests.
std::string_view to_string(proxy_parse_status s);

} // namespace got
