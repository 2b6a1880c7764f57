#include "client_hello_ext.hpp"

#include "sni.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace got {

namespace {

constexpr std::uint8_t host_name_type = 0; // RFC 6066 NameType host_name

std::size_t read16(std::uint8_t const* p)
{
    return static_cast<std::size_t>(p[0]) << 8 | p[1];
}

// The list a 2-byte length prefix announces, cut to the bytes there are.
std::span<std::uint8_t const> prefixed_list(std::span<std::uint8_t const> body)
{
    if (body.size() < 2)
        return {};
    return body.subspan(2, std::min(body.size() - 2, read16(body.data())));
}

} // namespace

std::string hello_server_name(std::span<std::uint8_t const> body)
{
    auto list = prefixed_list(body);
    while (list.size() >= 3) {
        auto const type = list[0];
        auto const n = read16(list.data() + 1);
        if (n > list.size() - 3)
            return {};
        if (type == host_name_type)
            return sni::normalise(
                std::string_view(reinterpret_cast<char const*>(list.data() + 3), n));
        list = list.subspan(3 + n);
    }
    return {};
}

std::vector<std::string> hello_alpn_protocols(std::span<std::uint8_t const> body)
{
    std::vector<std::string> out;
    auto list = prefixed_list(body);
    while (!list.empty()) {
        std::size_t const n = list[0];
        if (n == 0 || n > list.size() - 1)
            break;
        out.emplace_back(reinterpret_cast<char const*>(list.data() + 1), n);
        list = list.subspan(1 + n);
    }
    return out;
}

namespace {

constexpr std::uint8_t handshake_record = 22;
constexpr std::uint8_t client_hello_type = 1;
constexpr std::size_t record_header = 5;
constexpr std::size_t max_fragment = 16384; // RFC 8446 section 5.1
constexpr std::uint16_t server_name_ext = 0;
constexpr std::uint16_t alpn_ext = 16;

// Reads fields front to back; any read past the end fails the whole parse.
struct reader
{
    std::span<std::uint8_t const> rest;

    bool take(std::size_t n, std::span<std::uint8_t const>& out)
    {
        if (n > rest.size())
            return false;
        out = rest.first(n);
        rest = rest.subspan(n);
        return true;
    }
    bool u8(std::size_t& v)
    {
        std::span<std::uint8_t const> b;
        if (!take(1, b))
            return false;
        v = b[0];
        return true;
    }
    bool u16(std::size_t& v)
    {
        std::span<std::uint8_t const> b;
        if (!take(2, b))
            return false;
        v = read16(b.data());
        return true;
    }
    // A vector with a 1- or 2-byte length prefix (RFC 8446 section 3.4).
    bool vec(int prefix, std::span<std::uint8_t const>& out)
    {
        std::size_t n = 0;
        return (prefix == 1 ? u8(n) : u16(n)) && take(n, out);
    }
};

// The ClientHello message body (after its 4-byte header), as OpenSSL frames it
// (tls_process_client_hello): fields in order, then extensions that fill the rest.
std::optional<client_hello_scan> parse_body(std::span<std::uint8_t const> body)
{
    reader r{body};
    std::span<std::uint8_t const> field;
    std::size_t version = 0;
    if (!r.u16(version) || !r.take(32, field)) // legacy_version, random
        return std::nullopt;
    if (!r.vec(1, field) || field.size() > 32) // legacy_session_id
        return std::nullopt;
    if (!r.vec(2, field) || field.empty() || field.size() % 2 != 0) // cipher_suites
        return std::nullopt;
    if (!r.vec(1, field) || field.empty()) // legacy_compression_methods
        return std::nullopt;
    client_hello_scan out;
    out.status = hello_scan::complete;
    if (r.rest.empty())
        return out; // no extensions (TLS 1.2 and older allow it)
    std::span<std::uint8_t const> exts;
    if (!r.vec(2, exts) || !r.rest.empty())
        return std::nullopt;
    reader e{exts};
    // Types seen, for the duplicate check; more extensions than this is no ClientHello
    // any client sends (OpenSSL takes them; the caller then leaves them to it).
    std::array<std::size_t, 64> types;
    std::size_t count = 0;
    while (!e.rest.empty()) {
        std::size_t type = 0;
        std::span<std::uint8_t const> ext;
        if (!e.u16(type) || !e.vec(2, ext) || count == types.size())
            return std::nullopt;
        if (std::find(types.begin(), types.begin() + count, type) != types.begin() + count)
            return std::nullopt; // the same extension twice: OpenSSL refuses it
        types[count++] = type;
        if (type == server_name_ext)
            out.server_name = hello_server_name(ext);
        else if (type == alpn_ext)
            out.alpn = hello_alpn_protocols(ext);
    }
    return out;
}

} // namespace

client_hello_scan scan_client_hello(std::span<std::uint8_t const> bytes, std::size_t max_size)
{
    client_hello_scan more; // need_more
    client_hello_scan other;
    other.status = hello_scan::other;
    // The handshake message, gathered from as many records as it spans. Most ClientHellos
    // fit one record and are parsed where they lie; only a split one is copied.
    std::span<std::uint8_t const> message;
    std::vector<std::uint8_t> joined;
    std::size_t at = 0;
    for (;;) {
        if (message.size() >= 4) {
            if (message[0] != client_hello_type)
                return other;
            std::size_t const length = static_cast<std::size_t>(message[1]) << 16 |
                                       static_cast<std::size_t>(message[2]) << 8 | message[3];
            if (4 + length > max_size)
                return other;
            if (message.size() >= 4 + length) {
                auto parsed = parse_body(message.subspan(4, length));
                return parsed ? std::move(*parsed) : other;
            }
        }
        if (at >= max_size)
            return other;
        if (bytes.size() - at < record_header)
            return more;
        auto const* h = bytes.data() + at;
        std::size_t const fragment = read16(h + 3);
        if (h[0] != handshake_record || h[1] != 3 || fragment == 0 || fragment > max_fragment)
            return other;
        if (at + record_header + fragment > max_size)
            return other;
        if (bytes.size() - at - record_header < fragment)
            return more;
        auto piece = bytes.subspan(at + record_header, fragment);
        at += record_header + fragment;
        if (message.empty() && joined.empty()) {
            message = piece;
            continue;
        }
        if (joined.empty())
            joined.assign(message.begin(), message.end());
        joined.insert(joined.end(), piece.begin(), piece.end());
        message = joined;
    }
}

} // namespace got
