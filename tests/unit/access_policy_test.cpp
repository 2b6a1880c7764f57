// The router's view of the allow/deny lists and the rate key: an address as a socket or a
// PROXY header gives it (IPv4, IPv6, IPv4-mapped IPv6) is matched and keyed as its family.
#include "access_policy.hpp"
#include "common/cidr.hpp"

#include <gtest/gtest.h>

namespace got {
namespace {

namespace ip = boost::asio::ip;

access_lists lists(std::vector<std::string> const& allow, std::vector<std::string> const& deny)
{
    access_lists l;
    for (auto const& a : allow)
        l.allow.push_back(parse_cidr(a).value());
    for (auto const& d : deny)
        l.deny.push_back(parse_cidr(d).value());
    return l;
}

TEST(AccessPolicy, ListsSeeEachFamilyAndMappedAddresses)
{
    auto l = lists({"127.0.0.0/8", "::1"}, {"127.0.0.2"});
    EXPECT_TRUE(lists_permit(l, ip::make_address("127.0.0.1")));
    EXPECT_FALSE(lists_permit(l, ip::make_address("127.0.0.2")));
    EXPECT_FALSE(lists_permit(l, ip::make_address("::ffff:127.0.0.2")));
    EXPECT_TRUE(lists_permit(l, ip::make_address("::ffff:127.0.0.3")));
    EXPECT_TRUE(lists_permit(l, ip::make_address("::1")));
    EXPECT_FALSE(lists_permit(l, ip::make_address("::2")));
    EXPECT_FALSE(lists_permit(l, ip::make_address("192.0.2.1")));
    EXPECT_TRUE(lists_permit(access_lists{}, ip::make_address("192.0.2.1")));
}

TEST(AccessPolicy, RateKeyOfIpv4AndMappedIsTheSame)
{
    EXPECT_EQ(rate_key(ip::make_address("192.0.2.7")),
              rate_key(ip::make_address("::ffff:192.0.2.7")));
    EXPECT_NE(rate_key(ip::make_address("192.0.2.7")), rate_key(ip::make_address("192.0.2.8")));
    EXPECT_NE(rate_key(ip::make_address("::1")), rate_key(ip::make_address("0.0.0.1")));
}

} // namespace
} // namespace got
