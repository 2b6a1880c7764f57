#include "cidr.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <string>

namespace got {

namespace {

using result = parse_result<cidr_block>;
using address_bytes = std::array<std::uint8_t, 16>;

// `::ffff:a.b.c.d`: how a dual-stack socket shows an IPv4 peer.
constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string in_quotes(std::string_view s)
{
    return "\"" + std::string(s) + "\"";
}

bool is_v4_mapped(std::uint8_t const* addr)
{
    return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), addr);
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// The high `bits` bits of a byte (0 to 8).
std::uint8_t high_bits_mask(unsigned bits)
{
    return static_cast<std::uint8_t>(0xff00u >> bits);
}

// Whether the first `prefix` bits of `a` and `b` agree.
bool same_prefix(std::uint8_t const* a, std::uint8_t const* b, unsigned prefix)
{
    auto whole = prefix / 8;
    if (!std::equal(a, a + whole, b))
        return false;
    auto rest = prefix % 8;
    return rest == 0 || ((a[whole] ^ b[whole]) & high_bits_mask(rest)) == 0;
}

// `bytes` with every bit past the first `prefix` cleared.
address_bytes network_of(address_bytes bytes, unsigned prefix)
{
    for (unsigned i = 0; i < bytes.size(); ++i) {
        auto first_bit = i * 8;
        bytes[i] &= first_bit >= prefix ? 0 : high_bits_mask(std::min(prefix - first_bit, 8u));
    }
    return bytes;
}

std::string address_text(bool v6, std::uint8_t const* bytes)
{
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text);
    return text;
}

std::string block_text(bool v6, std::uint8_t const* bytes, unsigned prefix)
{
    return address_text(v6, bytes) + "/" + std::to_string(prefix);
}

} // namespace

bool cidr_block::contains(bool addr_v6, std::uint8_t const* addr) const
{
    if (addr_v6 && is_v4_mapped(addr)) {
        addr += v4_mapped_prefix.size();
        addr_v6 = false;
    }
    if (addr_v6 != v6)
        return false;
    return same_prefix(bytes.data(), addr, std::min(prefix, v6 ? 128u : 32u));
}

parse_result<cidr_block> parse_cidr(std::string_view text)
{
    if (text.empty())
        return result::fail(
            "expected an address block like 10.0.0.0/8 or 2001:db8::/32, got an empty string");
    auto slash = text.find('/');
    cidr_block block;
    block.text = std::string(text);
    std::string address(text.substr(0, slash));
    if (::inet_pton(AF_INET, address.c_str(), block.bytes.data()) == 1)
        block.v6 = false;
    else if (::inet_pton(AF_INET6, address.c_str(), block.bytes.data()) == 1)
        block.v6 = true;
    else
        return result::fail(std::string("expected an IPv4 or IPv6 address") +
                            (slash == text.npos ? "" : " before \"/\"") + ", got " +
                            in_quotes(text));
    unsigned width = block.v6 ? 128 : 32;
    block.prefix = width;
    if (slash != text.npos) {
        auto digits = text.substr(slash + 1);
        auto bad_prefix = [&] {
            return result::fail("expected a prefix length from 0 to " + std::to_string(width) +
                                " after \"/\", got " + in_quotes(text));
        };
        if (digits.empty() || digits.size() > 3 ||
            !std::all_of(digits.begin(), digits.end(), is_digit))
            return bad_prefix();
        block.prefix = 0;
        for (char c : digits)
            block.prefix = block.prefix * 10 + static_cast<unsigned>(c - '0');
        if (block.prefix > width)
            return bad_prefix();
    }
    auto network = network_of(block.bytes, block.prefix);
    if (block.v6 && block.prefix >= 96 && is_v4_mapped(block.bytes.data()))
        return result::fail(in_quotes(text) +
                            " is an IPv4-mapped block, which never matches (a v4-mapped peer is "
                            "matched as IPv4): write " +
                            in_quotes(block_text(false, network.data() + v4_mapped_prefix.size(),
                                                 block.prefix - 96)));
    if (network != block.bytes)
        return result::fail(
            "host bits set in " + in_quotes(text) + ": write " +
            in_quotes(block_text(block.v6, network.data(), block.prefix)) + " for the block, or " +
            in_quotes(address_text(block.v6, block.bytes.data())) + " for the one address");
    return result::ok(std::move(block));
}

} // namespace got
