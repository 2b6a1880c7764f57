// Address blocks for proxy_protocol.from: what parses (and to which bytes and prefix), what
// is refused and why, and which peer addresses a block contains.
#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace got {
namespace {

// A peer address as a socket reports it: 4 bytes for IPv4, 16 for IPv6.
struct peer
{
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
};

peer peer_of(std::string const& text)
{
    peer p;
    p.v6 = text.find(':') != std::string::npos;
    EXPECT_EQ(::inet_pton(p.v6 ? AF_INET6 : AF_INET, text.c_str(), p.bytes.data()), 1) << text;
    return p;
}

cidr_block block_of(std::string const& text)
{
    auto b = parse_cidr(text);
    EXPECT_TRUE(b) << text << ": " << b.error();
    return b ? b.value() : cidr_block{};
}

TEST(ParseCidr, Accepts)
{
    struct row
    {
        std::string text;
        bool v6;
        unsigned prefix;
        std::string address; // the bytes, as an address
    };
    row const rows[] = {
        {"10.0.0.0/8", false, 8, "10.0.0.0"},
        {"192.0.2.7", false, 32, "192.0.2.7"},
        {"192.0.2.7/32", false, 32, "192.0.2.7"},
        {"0.0.0.0/0", false, 0, "0.0.0.0"},
        {"172.16.0.0/12", false, 12, "172.16.0.0"},
        {"192.0.2.128/25", false, 25, "192.0.2.128"},
        {"::1/128", true, 128, "::1"},
        {"::1", true, 128, "::1"},
        {"::/0", true, 0, "::"},
        {"2001:db8::/32", true, 32, "2001:db8::"},
        {"2001:DB8:0:0:8000::/65", true, 65, "2001:db8:0:0:8000::"},
        {"fe80::/10", true, 10, "fe80::"},
    };
    for (auto const& r : rows) {
        auto b = parse_cidr(r.text);
        ASSERT_TRUE(b) << r.text << ": " << b.error();
        EXPECT_EQ(b.value().text, r.text);
        EXPECT_EQ(b.value().v6, r.v6) << r.text;
        EXPECT_EQ(b.value().prefix, r.prefix) << r.text;
        EXPECT_EQ(b.value().bytes, peer_of(r.address).bytes) << r.text;
    }
}

TEST(ParseCidr, Refuses)
{
    struct row
    {
        std::string text;
        std::string message_part;
    };
    row const rows[] = {
        {"", "expected an address block like 10.0.0.0/8"},
        {"10.0.0.0/", "expected a prefix length from 0 to 32 after \"/\", got \"10.0.0.0/\""},
        {"10.0.0.0/33", "a prefix length from 0 to 32"},
        {"10.0.0.0/-1", "a prefix length from 0 to 32"},
        {"10.0.0.0/+8", "a prefix length from 0 to 32"},
        {"10.0.0.0/8 ", "a prefix length from 0 to 32"},
        {"10.0.0.0/0008", "a prefix length from 0 to 32"},
        {"10.0.0.0/8/8", "a prefix length from 0 to 32"},
        {"2001:db8::/129", "a prefix length from 0 to 128"},
        {"10.0.0/8", "expected an IPv4 or IPv6 address before \"/\", got \"10.0.0/8\""},
        {"010.0.0.0/8", "expected an IPv4 or IPv6 address"},
        {"256.0.0.0/8", "expected an IPv4 or IPv6 address"},
        {"example.org", "expected an IPv4 or IPv6 address, got \"example.org\""},
        {"[::1]/128", "expected an IPv4 or IPv6 address"},
        {"fe80::1%eth0", "expected an IPv4 or IPv6 address"},
        {"/8", "expected an IPv4 or IPv6 address"},
        {"10.0.0.1/8",
         "host bits set in \"10.0.0.1/8\": write \"10.0.0.0/8\" for the block, or \"10.0.0.1\" "
         "for the one address"},
        {"192.0.2.129/25", "write \"192.0.2.128/25\""},
        {"0.0.0.1/0", "write \"0.0.0.0/0\""},
        {"2001:db8::1/32", "host bits set in \"2001:db8::1/32\": write \"2001:db8::/32\""},
        {"2001:db8:0:0:8000::/64", "write \"2001:db8::/64\""},
        {"::ffff:0:0/80", "host bits set in \"::ffff:0:0/80\": write \"::/80\""},
        {"::ffff:10.0.0.0/104",
         "\"::ffff:10.0.0.0/104\" is an IPv4-mapped block, which never matches (a v4-mapped "
         "peer is matched as IPv4): write \"10.0.0.0/8\""},
        {"::ffff:192.0.2.7", "write \"192.0.2.7/32\""},
        {"::ffff:0:0/96", "write \"0.0.0.0/0\""},
        {"::ffff:10.0.0.1/104", "write \"10.0.0.0/8\""},
    };
    for (auto const& r : rows) {
        auto b = parse_cidr(r.text);
        ASSERT_FALSE(b) << r.text;
        EXPECT_NE(b.error().find(r.message_part), std::string::npos) << r.text << ": " << b.error();
    }
}

TEST(CidrBlock, Contains)
{
    struct row
    {
        std::string block;
        std::string address;
        bool inside;
    };
    row const rows[] = {
        {"10.0.0.0/8", "10.0.0.0", true},
        {"10.0.0.0/8", "10.255.255.255", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"10.0.0.0/8", "9.255.255.255", false},
        {"192.0.2.7", "192.0.2.7", true},
        {"192.0.2.7", "192.0.2.6", false},
        {"192.0.2.7", "192.0.2.8", false},
        {"192.0.2.128/25", "192.0.2.128", true},
        {"192.0.2.128/25", "192.0.2.255", true},
        {"192.0.2.128/25", "192.0.2.127", false},
        {"172.16.0.0/12", "172.31.255.255", true},
        {"172.16.0.0/12", "172.32.0.0", false},
        {"0.0.0.0/0", "203.0.113.9", true},
        // A dual-stack socket reports an IPv4 peer as v4-mapped: it matches IPv4 blocks.
        {"10.0.0.0/8", "::ffff:10.1.2.3", true},
        {"10.0.0.0/8", "::ffff:11.1.2.3", false},
        {"192.0.2.7", "::ffff:192.0.2.7", true},
        {"0.0.0.0/0", "::ffff:203.0.113.9", true},
        // Otherwise the families never mix.
        {"0.0.0.0/0", "::1", false},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"0.0.0.0/0", "::10.1.2.3", false}, // IPv4-compatible, not mapped
        {"::/0", "10.0.0.1", false},
        {"::/0", "::ffff:10.0.0.1", false}, // mapped counts as IPv4
        {"::/0", "2001:db8::1", true},
        {"::1/128", "::1", true},
        {"::1", "::2", false},
        {"::1/128", "127.0.0.1", false},
        {"2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
        {"2001:db8::/32", "2001:db9::", false},
        {"2001:db8::8000:0:0:0/65", "2001:db8::ffff:0:0:1", true},
        {"2001:db8::8000:0:0:0/65", "2001:db8::7fff:0:0:1", false},
        {"fe80::/10", "febf::1", true},
        {"fe80::/10", "fec0::1", false},
    };
    for (auto const& r : rows) {
        auto block = block_of(r.block);
        auto addr = peer_of(r.address);
        EXPECT_EQ(block.contains(addr.v6, addr.bytes.data()), r.inside)
            << r.block << " contains " << r.address;
    }
}

TEST(CidrBlock, ContainsReadsOnlyFourBytesOfAnIpv4Address)
{
    std::uint8_t const v4[4] = {10, 1, 2, 3};
    EXPECT_TRUE(block_of("10.0.0.0/8").contains(false, v4));
    EXPECT_TRUE(block_of("10.1.2.3").contains(false, v4));
    EXPECT_FALSE(block_of("::/0").contains(false, v4));
}

access_lists lists_of(std::vector<std::string> const& allow, std::vector<std::string> const& deny)
{
    access_lists l;
    for (auto const& a : allow)
        l.allow.push_back(block_of(a));
    for (auto const& d : deny)
        l.deny.push_back(block_of(d));
    return l;
}

bool permits(access_lists const& l, std::string const& address)
{
    auto p = peer_of(address);
    return l.permits(p.v6, p.bytes.data());
}

TEST(AccessLists, EmptyListsAdmitEveryone)
{
    access_lists none;
    EXPECT_TRUE(permits(none, "192.0.2.1"));
    EXPECT_TRUE(permits(none, "::1"));
}

TEST(AccessLists, DenyWinsOverAllow)
{
    auto l = lists_of({"10.0.0.0/8", "::1"}, {"10.9.0.0/16"});
    EXPECT_TRUE(permits(l, "10.1.2.3"));
    EXPECT_FALSE(permits(l, "10.9.2.3")); // in both: deny wins, whatever the order
    EXPECT_TRUE(permits(l, "::1"));
}

TEST(AccessLists, NonEmptyAllowIsDefaultDeny)
{
    auto l = lists_of({"127.0.0.0/8"}, {});
    EXPECT_TRUE(permits(l, "127.0.0.2"));
    EXPECT_FALSE(permits(l, "192.0.2.1"));
    EXPECT_FALSE(permits(l, "::1")); // another family is not in an IPv4 block
}

TEST(AccessLists, DenyOnlyAdmitsTheRest)
{
    auto l = lists_of({}, {"127.0.0.2", "2001:db8::/32"});
    EXPECT_FALSE(permits(l, "127.0.0.2"));
    EXPECT_TRUE(permits(l, "127.0.0.1"));
    EXPECT_FALSE(permits(l, "2001:db8::5"));
    EXPECT_TRUE(permits(l, "::1"));
}

TEST(AccessLists, V4MappedClientsMatchIpv4Blocks)
{
    auto allow = lists_of({"192.0.2.0/24"}, {});
    EXPECT_TRUE(permits(allow, "::ffff:192.0.2.9"));
    EXPECT_FALSE(permits(allow, "::ffff:198.51.100.1"));
    auto deny = lists_of({}, {"192.0.2.9"});
    EXPECT_FALSE(permits(deny, "::ffff:192.0.2.9"));
    EXPECT_TRUE(permits(deny, "::ffff:192.0.2.10"));
}

} // namespace
} // namespace got
