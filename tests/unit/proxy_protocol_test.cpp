// The PROXY protocol parser and serialisers: the spec's examples, malformed variants,
// byte-at-a-time feeding, and round trips. v2 inputs are built by hand here, not with the
// serialiser under test.
#include "common/proxy_protocol.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <span>
#include <string>
#include <vector>

namespace got {
namespace {

using namespace std::string_literals;

proxy_parse_result parse(std::string const& s)
{
    return parse_proxy_header(std::span(reinterpret_cast<std::uint8_t const*>(s.data()), s.size()));
}

std::string const signature = "\r\n\r\n\0\r\nQUIT\n"s;

std::string be16(std::size_t v)
{
    return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}

std::string be32(std::uint32_t v)
{
    return be16(v >> 16) + be16(v & 0xFFFF);
}

// A v2 header: signature, version/command, family, length, then `body`.
std::string v2(std::uint8_t version_command, std::uint8_t family, std::string const& body)
{
    return signature + static_cast<char>(version_command) + static_cast<char>(family) +
           be16(body.size()) + body;
}

std::string tlv(std::uint8_t type, std::string const& value)
{
    return static_cast<char>(type) + be16(value.size()) + value;
}

// 192.0.2.1:56324 -> 198.51.100.2:70
std::string const inet4_block = "\xC0\x00\x02\x01"s + "\xC6\x33\x64\x02"s + be16(56324) + be16(70);
// 2001:db8::1:56324 -> 2001:db8::2:70
std::string const inet6_block = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s +
                                "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x02"s +
                                be16(56324) + be16(70);

// Bitwise CRC32C, independent of the parser's table.
std::uint32_t reference_crc32c(std::string const& s)
{
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char c : s) {
        crc ^= c;
        for (int k = 0; k < 8; ++k)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}

// A v2 header whose last TLV is a correct CRC32C.
std::string with_crc(std::uint8_t version_command, std::uint8_t family, std::string const& body)
{
    auto h = v2(version_command, family, body + tlv(0x03, std::string(4, '\0')));
    auto crc = be32(reference_crc32c(h));
    h.replace(h.size() - 4, 4, crc);
    return h;
}

struct valid_case
{
    std::string name;
    std::string bytes; // the header alone
    int version;
    proxy_command command;
    proxy_family family;
    std::string source; // format_proxy_address
    std::string destination;
    std::uint16_t source_port;
    std::uint16_t destination_port;
};

std::string const ffff6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

std::vector<valid_case> valid_cases()
{
    auto const proxy = proxy_command::proxy;
    auto const local = proxy_command::local;
    return {
        // v1, the spec's examples (section 2.1)
        {"v1 TCP4 spec example", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 1, proxy,
         proxy_family::tcp4, "192.168.0.1", "192.168.0.11", 56324, 443},
        {"v1 TCP4 worst case", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 1,
         proxy, proxy_family::tcp4, "255.255.255.255", "255.255.255.255", 65535, 65535},
        {"v1 TCP6 worst case", "PROXY TCP6 " + ffff6 + " " + ffff6 + " 65535 65535\r\n", 1, proxy,
         proxy_family::tcp6, ffff6, ffff6, 65535, 65535},
        {"v1 UNKNOWN", "PROXY UNKNOWN\r\n", 1, local, proxy_family::unspec, "", "", 0, 0},
        {"v1 UNKNOWN worst case (107 bytes)",
         "PROXY UNKNOWN " + ffff6 + " " + ffff6 + " 65535 65535\r\n", 1, local,
         proxy_family::unspec, "", "", 0, 0},
        {"v1 TCP6 short form", "PROXY TCP6 2001:db8::1 ::1 1234 70\r\n", 1, proxy,
         proxy_family::tcp6, "2001:db8::1", "::1", 1234, 70},
        {"v1 TCP6 upper case, v4-mapped", "PROXY TCP6 2001:DB8::A ::ffff:192.0.2.1 1 2\r\n", 1,
         proxy, proxy_family::tcp6, "2001:db8::a", "::ffff:192.0.2.1", 1, 2},
        {"v1 ports zero", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", 1, proxy, proxy_family::tcp4,
         "0.0.0.0", "10.0.0.1", 0, 0},
        // v2 (section 2.2)
        {"v2 PROXY TCP4", v2(0x21, 0x11, inet4_block), 2, proxy, proxy_family::tcp4, "192.0.2.1",
         "198.51.100.2", 56324, 70},
        {"v2 PROXY TCP6", v2(0x21, 0x21, inet6_block), 2, proxy, proxy_family::tcp6, "2001:db8::1",
         "2001:db8::2", 56324, 70},
        {"v2 LOCAL", v2(0x20, 0x00, ""), 2, local, proxy_family::unspec, "", "", 0, 0},
        {"v2 LOCAL with TCP4 block", v2(0x20, 0x11, inet4_block), 2, local, proxy_family::tcp4,
         "192.0.2.1", "198.51.100.2", 56324, 70},
        {"v2 PROXY UNSPEC", v2(0x21, 0x00, ""), 2, proxy, proxy_family::unspec, "", "", 0, 0},
        {"v2 PROXY UDP4", v2(0x21, 0x12, inet4_block), 2, proxy, proxy_family::udp4, "192.0.2.1",
         "198.51.100.2", 56324, 70},
        {"v2 PROXY UDP6", v2(0x21, 0x22, inet6_block), 2, proxy, proxy_family::udp6, "2001:db8::1",
         "2001:db8::2", 56324, 70},
        {"v2 PROXY UNIX stream", v2(0x21, 0x31, std::string(216, 'p')), 2, proxy,
         proxy_family::unix_stream, "", "", 0, 0},
        {"v2 PROXY UNIX dgram", v2(0x21, 0x32, std::string(216, '\0')), 2, proxy,
         proxy_family::unix_dgram, "", "", 0, 0},
        {"v2 TCP4 with TLVs",
         v2(0x21, 0x11,
            inet4_block + tlv(0x01, "gopher") + tlv(0x02, "example.org") +
                tlv(0x20, "\x07"s + be32(0) + tlv(0x21, "TLSv1.3") + tlv(0x22, "client")) +
                tlv(0x05, "id-1") + tlv(0x04, "pad") + tlv(0xE0, "custom") + tlv(0x30, "ns")),
         2, proxy, proxy_family::tcp4, "192.0.2.1", "198.51.100.2", 56324, 70},
        {"v2 TCP6 with CRC32C", with_crc(0x21, 0x21, inet6_block + tlv(0x02, "a.test")), 2, proxy,
         proxy_family::tcp6, "2001:db8::1", "2001:db8::2", 56324, 70},
        {"v2 LOCAL with a NOOP", v2(0x20, 0x00, tlv(0x04, "")), 2, local, proxy_family::unspec, "",
         "", 0, 0},
        {"v2 longest",
         v2(0x21, 0x11, inet4_block + tlv(0xE1, std::string(4096 - 16 - 12 - 3, 'x'))), 2, proxy,
         proxy_family::tcp4, "192.0.2.1", "198.51.100.2", 56324, 70},
    };
}

void expect_header(valid_case const& c, proxy_parse_result const& r)
{
    ASSERT_EQ(r.status, proxy_parse_status::done)
        << c.name << ": " << to_string(r.status) << " " << r.reason;
    EXPECT_EQ(r.consumed, c.bytes.size()) << c.name;
    EXPECT_EQ(r.header.version, c.version) << c.name;
    EXPECT_EQ(r.header.command, c.command) << c.name;
    EXPECT_EQ(r.header.family, c.family) << c.name;
    EXPECT_EQ(format_proxy_address(c.family, r.header.source_address), c.source) << c.name;
    EXPECT_EQ(format_proxy_address(c.family, r.header.destination_address), c.destination)
        << c.name;
    EXPECT_EQ(r.header.source_port, c.source_port) << c.name;
    EXPECT_EQ(r.header.destination_port, c.destination_port) << c.name;
}

TEST(ProxyProtocolParse, SpecExamples)
{
    for (auto const& c : valid_cases())
        expect_header(c, parse(c.bytes));
}

TEST(ProxyProtocolParse, WorstCaseLengths)
{
    auto cases = valid_cases();
    EXPECT_EQ(cases[1].bytes.size(), 56u);
    EXPECT_EQ(cases[2].bytes.size(), 104u);
    EXPECT_EQ(cases[4].bytes.size(), 107u);
    EXPECT_EQ(cases.back().bytes.size(), max_proxy_header_size);
}

TEST(ProxyProtocolParse, StopsAtTheEndOfTheHeader)
{
    // What follows is the client's: a selector, a ClientHello, the spec's HTTP request.
    for (auto const& c : valid_cases()) {
        for (auto const& tail : {"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"s, "\r\n"s,
                                 "\x16\x03\x01\x02\x00\x01"s, "PROXY TCP4 "s, signature}) {
            auto r = parse(c.bytes + tail);
            expect_header(c, r);
        }
    }
}

TEST(ProxyProtocolParse, EveryStrictPrefixNeedsMore)
{
    for (auto const& c : valid_cases()) {
        for (std::size_t n = 0; n < c.bytes.size(); ++n) {
            auto r = parse(c.bytes.substr(0, n));
            ASSERT_EQ(r.status, proxy_parse_status::need_more)
                << c.name << " cut at " << n << ": " << r.reason;
        }
    }
}

TEST(ProxyProtocolParse, OneByteAtATime)
{
    // The way a caller reading one byte per read_some would see it.
    for (auto const& c : valid_cases()) {
        std::string buffer;
        proxy_parse_result r;
        for (char b : c.bytes + "x") {
            buffer.push_back(b);
            r = parse(buffer);
            if (r.status != proxy_parse_status::need_more)
                break;
        }
        EXPECT_EQ(buffer.size(), c.bytes.size()) << c.name;
        expect_header(c, r);
    }
}

TEST(ProxyProtocolParse, Tlvs)
{
    auto c = valid_cases()[17];
    ASSERT_EQ(c.name, "v2 TCP4 with TLVs");
    auto r = parse(c.bytes);
    ASSERT_EQ(r.status, proxy_parse_status::done) << r.reason;
    auto const& h = r.header;
    EXPECT_EQ(h.alpn, "gopher");
    EXPECT_EQ(h.authority, "example.org");
    EXPECT_EQ(h.unique_id, "id-1");
    ASSERT_TRUE(h.ssl);
    EXPECT_EQ(h.ssl->client,
              proxy_ssl_client::ssl | proxy_ssl_client::cert_conn | proxy_ssl_client::cert_sess);
    EXPECT_EQ(h.ssl->verify, 0u);
    EXPECT_EQ(h.ssl->version, "TLSv1.3");
    ASSERT_EQ(h.ssl->sub_tlvs.size(), 1u);
    EXPECT_EQ(h.ssl->sub_tlvs[0], (proxy_tlv{0x22, "client"}));
    // NOOP is dropped; the others are kept in order.
    ASSERT_EQ(h.other_tlvs.size(), 2u);
    EXPECT_EQ(h.other_tlvs[0], (proxy_tlv{0xE0, "custom"}));
    EXPECT_EQ(h.other_tlvs[1], (proxy_tlv{0x30, "ns"}));
}

TEST(ProxyProtocolParse, HasAddressesOnlyForProxyOverTcp)
{
    for (auto const& c : valid_cases()) {
        auto r = parse(c.bytes);
        ASSERT_EQ(r.status, proxy_parse_status::done) << c.name;
        bool expected = c.command == proxy_command::proxy &&
                        (c.family == proxy_family::tcp4 || c.family == proxy_family::tcp6);
        EXPECT_EQ(r.header.has_addresses(), expected) << c.name;
    }
}

TEST(ProxyProtocolParse, NotProxy)
{
    struct row
    {
        std::string bytes;
        proxy_parse_status expected;
    };
    auto const more = proxy_parse_status::need_more;
    auto const no = proxy_parse_status::not_proxy;
    row const rows[] = {
        {"", more},
        {"P", more},
        {"PROX", more},
        {"PROXY", more},
        {"\r", more},
        {"\r\n", more}, // also the empty Gopher selector: see the router's note
        {"\r\n\r\n\0\r\nQUI"s, more},
        {"PROXX", no},
        {"PROXYX", no},
        {"PROXY\r\n", no},
        {"proxy TCP4", no},
        {"/selector\r\n", no},
        {"/\tsearch\r\n", no},
        {"\x16\x03\x01\x00\xc8\x01"s, no},
        {"\r\nx", no},
        {"\r\n\r\n\0\r\nQUIX"s, no},
        {"\r\n\r\n\0\r\nQUIT\r"s, no},
        {"GET / HTTP/1.1\r\n", no},
        {" PROXY TCP4", no},
    };
    for (auto const& r : rows)
        EXPECT_EQ(parse(r.bytes).status, r.expected) << testing::PrintToString(r.bytes);
}

struct invalid_case
{
    std::string name;
    std::string bytes;
    std::string reason; // a part of the reason
};

std::vector<invalid_case> invalid_cases()
{
    std::string const addr4 = "1.2.3.4 5.6.7.8";
    std::string const v1_too_long = "PROXY UNKNOWN " + std::string(93, 'x') + "\r\n";
    std::string thirty_three_tlvs;
    for (int i = 0; i < 33; ++i)
        thirty_three_tlvs += tlv(0x04, "");
    auto crc_header = with_crc(0x21, 0x11, inet4_block);
    auto bad_crc = crc_header;
    bad_crc[20] = static_cast<char>(bad_crc[20] ^ 0x01); // one bit of the source address
    return {
        // v1: line shape
        {"LF without CR", "PROXY TCP4 " + addr4 + " 1 2\n", "LF without CR"},
        {"CR CR LF", "PROXY TCP4 " + addr4 + " 1 2\r\r\n", "CR not followed by LF"},
        {"CR then text", "PROXY UNKNOWN\rX", "CR not followed by LF"},
        {"double space before protocol", "PROXY  TCP4 " + addr4 + " 1 2\r\n", "empty field"},
        {"double space between addresses", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "empty field"},
        {"double space between ports", "PROXY TCP4 " + addr4 + " 1  2\r\n", "empty field"},
        {"tab as separator", "PROXY TCP4\t" + addr4 + " 1 2\r\n", "unexpected character"},
        {"trailing space", "PROXY TCP4 " + addr4 + " 1 2 \r\n", "extra field"},
        {"extra field", "PROXY TCP4 " + addr4 + " 1 2 3\r\n", "extra field"},
        {"missing port", "PROXY TCP4 " + addr4 + " 1\r\n", "ends early"},
        {"missing addresses", "PROXY TCP4\r\n", "ends early"},
        {"empty protocol", "PROXY \r\n", "ends early"},
        {"too long", v1_too_long, "longer than 107"},
        {"107 bytes without CRLF", "PROXY UNKNOWN " + std::string(93, 'x'), "longer than 107"},
        {"TCP6 line over 107 bytes",
         "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
         "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n",
         "longer than 107"},
        // v1: protocol and family
        {"UDP4", "PROXY UDP4 " + addr4 + " 1 2\r\n", "unknown protocol"},
        {"TCP5", "PROXY TCP5 " + addr4 + " 1 2\r\n", "unknown protocol"},
        {"lower case", "PROXY tcp4 " + addr4 + " 1 2\r\n", "unexpected character"},
        {"UNKNOWNX", "PROXY UNKNOWNX\r\n", "field too long"},
        {"TCP4 with IPv6", "PROXY TCP4 ::1 ::1 1 2\r\n", "unexpected character"},
        {"TCP4 with IPv6 destination", "PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "unexpected character"},
        {"TCP6 with IPv4", "PROXY TCP6 " + addr4 + " 1 2\r\n", "bad source address"},
        {"TCP6 with IPv4 destination", "PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "bad destination address"},
        // v1: addresses
        {"octet over 255", "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "bad source address"},
        {"three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "bad source address"},
        {"five octets", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "bad source address"},
        {"leading zero octet", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "bad source address"},
        {"trailing dot", "PROXY TCP4 1.2.3.4 5.6.7.8. 1 2\r\n", "bad destination address"},
        {"host name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", "unexpected character"},
        {"IPv4 over 15 bytes", "PROXY TCP4 0001.0002.0003.0004 5.6.7.8 1 2\r\n", "too long"},
        {"IPv6 two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n", "bad source address"},
        {"IPv6 bad hex", "PROXY TCP6 ::g ::1 1 2\r\n", "unexpected character"},
        {"IPv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "unexpected character"},
        {"IPv6 brackets", "PROXY TCP6 [::1] ::1 1 2\r\n", "unexpected character"},
        {"IPv6 group over 4 digits", "PROXY TCP6 12345::1 ::1 1 2\r\n", "bad source address"},
        // v1: ports
        {"port 65536", "PROXY TCP4 " + addr4 + " 65536 2\r\n", "bad source port"},
        {"port 99999", "PROXY TCP4 " + addr4 + " 1 99999\r\n", "bad destination port"},
        {"port over 5 digits", "PROXY TCP4 " + addr4 + " 123456 2\r\n", "too long"},
        {"port with plus", "PROXY TCP4 " + addr4 + " +1 2\r\n", "unexpected character"},
        {"port with minus", "PROXY TCP4 " + addr4 + " 1 -2\r\n", "unexpected character"},
        {"port leading zero", "PROXY TCP4 " + addr4 + " 01 2\r\n", "bad source port"},
        {"port 00", "PROXY TCP4 " + addr4 + " 1 00\r\n", "bad destination port"},
        {"port hex", "PROXY TCP4 " + addr4 + " 0x1 2\r\n", "unexpected character"},
        // v2: fixed header
        {"garbage after the signature", signature + "GET / HTTP/1.0\r\n", "version is not 2"},
        {"version 1 nibble", v2(0x11, 0x11, inet4_block), "version is not 2"},
        {"version 3 nibble", v2(0x31, 0x11, inet4_block), "version is not 2"},
        {"command 2", v2(0x22, 0x11, inet4_block), "unknown command"},
        {"command 15", v2(0x2F, 0x11, inet4_block), "unknown command"},
        {"family 0x13", v2(0x21, 0x13, inet4_block), "unknown address family"},
        {"family 0x41", v2(0x21, 0x41, inet4_block), "unknown address family"},
        {"family 0x10", v2(0x21, 0x10, inet4_block), "unknown address family"},
        {"family 0x01", v2(0x21, 0x01, inet4_block), "unknown address family"},
        {"length too long", signature + "\x21\x11"s + be16(4096 - 16 + 1), "longer than 4096"},
        {"length 65535", signature + "\x21\x11\xFF\xFF"s, "longer than 4096"},
        {"TCP4 length 11", v2(0x21, 0x11, inet4_block.substr(0, 11)), "too short"},
        {"TCP6 length 12", v2(0x21, 0x21, inet4_block), "too short"},
        {"UNIX length 36", v2(0x21, 0x31, inet6_block), "too short"},
        // v2: TLVs
        {"TLV header truncated", v2(0x21, 0x11, inet4_block + "\x01\x00"s), "TLV header truncated"},
        {"TLV one byte", v2(0x20, 0x00, "\x04"s), "TLV header truncated"},
        {"TLV length overflow", v2(0x21, 0x11, inet4_block + "\x01\x00\x0A"s + "gop"),
         "TLV longer"},
        {"TLV length 65535", v2(0x21, 0x11, inet4_block + "\x02\xFF\xFF"s + "a.test"),
         "TLV longer"},
        {"SSL TLV too short", v2(0x21, 0x11, inet4_block + tlv(0x20, "\x01\x00\x00\x00"s)),
         "shorter than 5"},
        {"SSL sub-TLV overflow",
         v2(0x21, 0x11, inet4_block + tlv(0x20, "\x01"s + be32(0) + "\x21\x00\x09TLSv1.3"s)),
         "TLV longer"},
        {"SSL sub-TLV truncated",
         v2(0x21, 0x11, inet4_block + tlv(0x20, "\x01"s + be32(0) + "\x21")),
         "TLV header truncated"},
        {"too many TLVs", v2(0x20, 0x00, thirty_three_tlvs), "too many TLVs"},
        {"unique id over 128", v2(0x21, 0x11, inet4_block + tlv(0x05, std::string(129, 'u'))),
         "unique id"},
        {"duplicate authority",
         v2(0x21, 0x11, inet4_block + tlv(0x02, "a.test") + tlv(0x02, "b.test")),
         "duplicate authority"},
        {"duplicate ALPN", v2(0x21, 0x11, inet4_block + tlv(0x01, "gopher") + tlv(0x01, "h2")),
         "duplicate ALPN"},
        {"duplicate SSL",
         v2(0x21, 0x11, inet4_block + tlv(0x20, "\x01"s + be32(0)) + tlv(0x20, "\x01"s + be32(0))),
         "duplicate SSL"},
        {"duplicate SSL version",
         v2(0x21, 0x11,
            inet4_block +
                tlv(0x20, "\x01"s + be32(0) + tlv(0x21, "TLSv1.3") + tlv(0x21, "TLSv1.2"))),
         "duplicate SSL version"},
        {"CRC32C mismatch", bad_crc, "CRC32C mismatch"},
        {"CRC32C 3 bytes", v2(0x21, 0x11, inet4_block + tlv(0x03, "abc")), "not 4 bytes"},
    };
}

TEST(ProxyProtocolParse, Malformed)
{
    for (auto const& c : invalid_cases()) {
        auto r = parse(c.bytes);
        ASSERT_EQ(r.status, proxy_parse_status::invalid) << c.name << ": " << to_string(r.status);
        EXPECT_NE(r.reason.find(c.reason), std::string_view::npos)
            << c.name << ": reason \"" << r.reason << "\"";
    }
}

TEST(ProxyProtocolParse, MalformedStaysMalformed)
{
    // A prefix is never `done` or `not_proxy`, and more bytes never rescue a bad header.
    for (auto const& c : invalid_cases()) {
        for (std::size_t n = 0; n < c.bytes.size(); ++n) {
            auto status = parse(c.bytes.substr(0, n)).status;
            EXPECT_TRUE(status == proxy_parse_status::need_more ||
                        status == proxy_parse_status::invalid)
                << c.name << " cut at " << n << ": " << to_string(status);
        }
        auto r = parse(c.bytes + "\r\n" + std::string(200, 'x'));
        EXPECT_EQ(r.status, proxy_parse_status::invalid) << c.name;
    }
}

TEST(ProxyProtocolParse, V1DecidesEarly)
{
    // A verdict as soon as the bytes cannot be a header, not at the CRLF or the limit.
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 x").status, proxy_parse_status::invalid);
    EXPECT_EQ(parse("PROXY UD").status, proxy_parse_status::invalid);
    EXPECT_EQ(parse("PROXY TCP4  ").status, proxy_parse_status::invalid);
    EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX").status, proxy_parse_status::invalid);
    EXPECT_EQ(parse(signature + "\x10").status, proxy_parse_status::invalid);
    EXPECT_EQ(parse(signature + "\x21\x99").status, proxy_parse_status::invalid);
}

TEST(ProxyProtocolParse, Crc32c)
{
    EXPECT_EQ(reference_crc32c("123456789"), 0xE3069283u); // the standard check value
    auto h = with_crc(0x21, 0x11, inet4_block + tlv(0x01, "gopher"));
    auto r = parse(h);
    ASSERT_EQ(r.status, proxy_parse_status::done) << r.reason;
    EXPECT_EQ(r.header.alpn, "gopher");
    EXPECT_TRUE(r.header.other_tlvs.empty()); // checked, not kept
    // Any bit flipped after the signature is caught, except in the length (the header then
    // looks longer) and in the CRC TLV's type (it is no longer a CRC).
    auto const crc_type_at = h.size() - 7;
    for (std::size_t i = 12; i < h.size(); ++i) {
        if (i == 15 || i == crc_type_at)
            continue;
        auto flipped = h;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x40);
        EXPECT_EQ(parse(flipped).status, proxy_parse_status::invalid) << "byte " << i;
    }
}

// ---------------------------------------------------------------------------------------
// Serialisation

proxy_header tcp4_header()
{
    proxy_header h;
    h.command = proxy_command::proxy;
    h.family = proxy_family::tcp4;
    h.source_address = {192, 0, 2, 1};
    h.destination_address = {198, 51, 100, 2};
    h.source_port = 56324;
    h.destination_port = 70;
    return h;
}

proxy_header tcp6_header()
{
    proxy_header h;
    h.command = proxy_command::proxy;
    h.family = proxy_family::tcp6;
    h.source_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    h.destination_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    h.source_port = 56324;
    h.destination_port = 70;
    return h;
}

TEST(ProxyProtocolSerialize, V1)
{
    EXPECT_EQ(serialize_proxy_v1(tcp4_header()), "PROXY TCP4 192.0.2.1 198.51.100.2 56324 70\r\n");
    EXPECT_EQ(serialize_proxy_v1(tcp6_header()), "PROXY TCP6 2001:db8::1 2001:db8::2 56324 70\r\n");
    EXPECT_EQ(serialize_proxy_v1(proxy_header{}), "PROXY UNKNOWN\r\n");
    auto local = tcp4_header();
    local.command = proxy_command::local;
    EXPECT_EQ(serialize_proxy_v1(local), "PROXY UNKNOWN\r\n");
    auto udp = tcp4_header();
    udp.family = proxy_family::udp4;
    EXPECT_EQ(serialize_proxy_v1(udp), "PROXY UNKNOWN\r\n");
}

TEST(ProxyProtocolSerialize, V2Bytes)
{
    EXPECT_EQ(serialize_proxy_v2(tcp4_header()), v2(0x21, 0x11, inet4_block));
    EXPECT_EQ(serialize_proxy_v2(tcp6_header()), v2(0x21, 0x21, inet6_block));
    EXPECT_EQ(serialize_proxy_v2(proxy_header{}), v2(0x20, 0x00, ""));

    // What got-router sends for a TLS client with SNI, the way HAProxy's send-proxy-v2-ssl
    // does: authority = SNI, SSL TLV with the client bit and the version sub-TLV.
    auto h = tcp4_header();
    h.authority = "gopher.example.org";
    h.ssl = proxy_ssl_tlv{proxy_ssl_client::ssl, 0, "TLSv1.3", {}};
    EXPECT_EQ(serialize_proxy_v2(h), v2(0x21, 0x11,
                                        inet4_block + tlv(0x02, "gopher.example.org") +
                                            tlv(0x20, "\x01"s + be32(0) + tlv(0x21, "TLSv1.3"))));
}

TEST(ProxyProtocolSerialize, V2RefusesWhatTheParserWouldRefuse)
{
    auto long_id = tcp4_header();
    long_id.unique_id = std::string(129, 'u');
    EXPECT_EQ(serialize_proxy_v2(long_id), "");

    auto too_big = tcp4_header();
    too_big.authority = std::string(5000, 'a');
    EXPECT_EQ(serialize_proxy_v2(too_big), "");

    auto too_many = tcp4_header();
    too_many.other_tlvs.assign(33, proxy_tlv{0xE0, ""});
    EXPECT_EQ(serialize_proxy_v2(too_many), "");

    for (std::uint8_t type : {0x01, 0x02, 0x03, 0x04, 0x05, 0x20}) {
        auto shadowed = tcp4_header();
        shadowed.other_tlvs.push_back({type, "x"});
        EXPECT_EQ(serialize_proxy_v2(shadowed), "") << int{type};
    }
    auto shadowed_version = tcp4_header();
    shadowed_version.ssl = proxy_ssl_tlv{1, 0, std::nullopt, {{0x21, "TLSv1.2"}}};
    EXPECT_EQ(serialize_proxy_v2(shadowed_version), "");

    auto at_limit = tcp4_header();
    at_limit.other_tlvs.push_back({0xE1, std::string(4096 - 16 - 12 - 3, 'x')});
    EXPECT_EQ(serialize_proxy_v2(at_limit).size(), max_proxy_header_size);
}

TEST(ProxyProtocolRoundTrip, EveryValidCase)
{
    for (auto const& c : valid_cases()) {
        auto first = parse(c.bytes);
        ASSERT_EQ(first.status, proxy_parse_status::done) << c.name;
        auto text = first.header.version == 1 ? serialize_proxy_v1(first.header)
                                              : serialize_proxy_v2(first.header);
        ASSERT_FALSE(text.empty()) << c.name;
        auto second = parse(text);
        ASSERT_EQ(second.status, proxy_parse_status::done) << c.name << ": " << second.reason;
        EXPECT_EQ(second.consumed, text.size()) << c.name;
        EXPECT_EQ(second.header, first.header) << c.name;
    }
}

TEST(ProxyProtocolRoundTrip, BuiltHeaders)
{
    auto full = tcp6_header();
    full.alpn = "gopher";
    full.authority = "a.example.net";
    full.unique_id = std::string(128, '\x01');
    full.ssl = proxy_ssl_tlv{0x05, 7, "TLSv1.2", {{0x22, "cn"}, {0x23, "AES"}, {0x99, ""}}};
    full.other_tlvs = {{0xE0, "a"}, {0x30, "netns"}, {0xEF, std::string(300, '\0')}};

    auto local6 = tcp6_header();
    local6.command = proxy_command::local;
    auto unix_stream = proxy_header{};
    unix_stream.command = proxy_command::proxy;
    unix_stream.family = proxy_family::unix_stream;
    auto empty_values = tcp4_header();
    empty_values.alpn = "";
    empty_values.authority = "";
    empty_values.ssl = proxy_ssl_tlv{};

    for (auto const& h :
         {tcp4_header(), tcp6_header(), full, local6, unix_stream, empty_values, proxy_header{}}) {
        auto r = parse(serialize_proxy_v2(h));
        ASSERT_EQ(r.status, proxy_parse_status::done) << r.reason;
        EXPECT_EQ(r.header, h);
    }
    for (auto h : {tcp4_header(), tcp6_header()}) {
        h.version = 1;
        auto r = parse(serialize_proxy_v1(h));
        ASSERT_EQ(r.status, proxy_parse_status::done) << r.reason;
        EXPECT_EQ(r.header, h);
    }
}

TEST(ProxyProtocolFormat, Addresses)
{
    EXPECT_EQ(format_proxy_address(proxy_family::tcp4, tcp4_header().source_address), "192.0.2.1");
    EXPECT_EQ(format_proxy_address(proxy_family::udp6, tcp6_header().source_address),
              "2001:db8::1");
    EXPECT_EQ(format_proxy_address(proxy_family::unspec, tcp4_header().source_address), "");
    EXPECT_EQ(format_proxy_address(proxy_family::unix_stream, {}), "");
}

} // namespace
} // namespace got
