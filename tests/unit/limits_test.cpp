// Per-address connection counts (`limits.max_connections_per_ip`): one count per
// client address, whatever family the socket that accepted it has.
#include "limits.hpp"

#include <gtest/gtest.h>

namespace got::test {
namespace {

namespace ip = boost::asio::ip;

TEST(PerAddressCounts, CapsOneAddressAndFreesOnRelease)
{
    per_address_counts counts;
    auto const a = ip::make_address("192.0.2.7");
    auto const b = ip::make_address("192.0.2.8");
    EXPECT_TRUE(counts.try_acquire(a, 2));
    EXPECT_TRUE(counts.try_acquire(a, 2));
    EXPECT_FALSE(counts.try_acquire(a, 2));
    EXPECT_TRUE(counts.try_acquire(b, 2)); // another address has its own count
    counts.release(a);
    EXPECT_TRUE(counts.try_acquire(a, 2));
    EXPECT_FALSE(counts.try_acquire(a, 2));
}

TEST(PerAddressCounts, Ipv4AndItsMappedFormAreOneClient)
{
    per_address_counts counts;
    auto const v4 = ip::make_address("198.51.100.1");
    auto const mapped = ip::make_address("::ffff:198.51.100.1");
    EXPECT_TRUE(counts.try_acquire(v4, 2));
    EXPECT_TRUE(counts.try_acquire(mapped, 2));
    EXPECT_FALSE(counts.try_acquire(v4, 2));
    EXPECT_FALSE(counts.try_acquire(mapped, 2));
    counts.release(mapped);
    EXPECT_TRUE(counts.try_acquire(v4, 2));
}

TEST(PerAddressCounts, Ipv6AddressesAreCountedApart)
{
    per_address_counts counts;
    auto const a = ip::make_address("2001:db8::1");
    auto const b = ip::make_address("2001:db8::2");
    EXPECT_TRUE(counts.try_acquire(a, 1));
    EXPECT_FALSE(counts.try_acquire(a, 1));
    EXPECT_TRUE(counts.try_acquire(b, 1));
    counts.release(a);
    counts.release(a); // one release too many is ignored, not a wrap-around
    EXPECT_TRUE(counts.try_acquire(a, 1));
    EXPECT_FALSE(counts.try_acquire(a, 1));
}

TEST(PerAddressCounts, NoLimitCountsNothing)
{
    per_address_counts counts;
    auto const a = ip::make_address("192.0.2.9");
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(counts.try_acquire(a, 0));
    EXPECT_TRUE(counts.try_acquire(a, 1)); // the unlimited ones were never counted
}

} // namespace
} // namespace got::test
