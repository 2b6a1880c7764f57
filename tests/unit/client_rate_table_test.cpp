// The per-address token buckets of limits.new_connections_per_ip, on a clock driven by
// hand: the burst, the refill (never past the burst), refusals that take nothing, and the
// fixed size of the table (reuse of refilled entries first, then eviction of the least
// recently used, never growth).
#include "common/client_rate_table.hpp"

#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace got {
namespace {

using namespace std::chrono_literals;
using key = client_rate_table::address_key;
using clock = client_rate_table::clock;

key v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
    return key{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

// The `n`th of many distinct addresses.
key nth(std::uint32_t n)
{
    return v4(static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
              static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n));
}

// How many of `tries` takes at `at` succeed.
int taken(client_rate_table& t, key const& k, clock::time_point at, int tries, double rate,
          double burst)
{
    int ok = 0;
    for (int i = 0; i < tries; ++i)
        ok += t.try_take(k, at, rate, burst) ? 1 : 0;
    return ok;
}

const clock::time_point t0 = clock::time_point{} + 1000s;

TEST(ClientRateTable, BurstThenRefused)
{
    client_rate_table t(64, 1);
    EXPECT_EQ(taken(t, v4(127, 0, 0, 1), t0, 25, 20, 20), 20);
    // Another address has its own bucket.
    EXPECT_EQ(taken(t, v4(127, 0, 0, 2), t0, 25, 20, 20), 20);
}

TEST(ClientRateTable, RefillsAtTheRateUpToTheBurst)
{
    client_rate_table t(64, 1);
    auto a = v4(192, 0, 2, 7);
    EXPECT_EQ(taken(t, a, t0, 20, 20, 20), 20);
    EXPECT_FALSE(t.try_take(a, t0, 20, 20));
    EXPECT_EQ(taken(t, a, t0 + 100ms, 5, 20, 20), 2); // 0.1 s at 20/s: two tokens
    EXPECT_EQ(taken(t, a, t0 + 125ms, 5, 20, 20), 0); // half a token so far
    EXPECT_EQ(taken(t, a, t0 + 150ms, 5, 20, 20), 1);
    // A long pause refills to the burst, not past it.
    EXPECT_EQ(taken(t, a, t0 + 1h, 50, 20, 20), 20);
}

TEST(ClientRateTable, PerMinuteRateAndSmallBurst)
{
    client_rate_table t(64, 1);
    auto a = v4(10, 0, 0, 1);
    double per_second = 600.0 / 60; // 600/m
    EXPECT_EQ(taken(t, a, t0, 10, per_second, 3), 3);
    EXPECT_EQ(taken(t, a, t0 + 1s, 20, per_second, 3), 3); // ten tokens due, three held
}

TEST(ClientRateTable, RefusalsTakeNothing)
{
    client_rate_table t(64, 1);
    auto a = v4(10, 0, 0, 1);
    EXPECT_EQ(taken(t, a, t0, 1, 1, 1), 1);
    // Hammering while empty does not push the next token further away.
    EXPECT_EQ(taken(t, a, t0 + 500ms, 100, 1, 1), 0);
    EXPECT_EQ(taken(t, a, t0 + 1s, 1, 1, 1), 1);
}

TEST(ClientRateTable, ClockGoingBackwardsRefillsNothing)
{
    client_rate_table t(64, 1);
    auto a = v4(10, 0, 0, 1);
    EXPECT_EQ(taken(t, a, t0, 2, 1, 2), 2);
    EXPECT_EQ(taken(t, a, t0 - 10s, 1, 1, 2), 0);
    EXPECT_EQ(taken(t, a, t0 + 1s, 1, 1, 2), 1);
}

TEST(ClientRateTable, NeverHoldsMoreThanItsCapacity)
{
    client_rate_table t(1024, 1);
    EXPECT_EQ(t.capacity(), 1024u);
    for (std::uint32_t i = 0; i < 100'000; ++i)
        EXPECT_TRUE(t.try_take(nth(i), t0 + std::chrono::microseconds(i), 20, 20));
    EXPECT_EQ(t.size(), t.capacity());
    EXPECT_GE(t.evictions(), 100'000u - 1024u);
}

TEST(ClientRateTable, RefilledEntriesAreReusedBeforeAnyEviction)
{
    client_rate_table t(16, 1);
    // Many addresses, each taking one token, with a full refill between them: every
    // entry taken over holds a full bucket, so nothing is lost and nothing counts.
    for (std::uint32_t i = 0; i < 1000; ++i)
        EXPECT_TRUE(t.try_take(nth(i), t0 + std::chrono::seconds(i), 1, 1));
    EXPECT_EQ(t.evictions(), 0u);
    EXPECT_LE(t.size(), 16u);
}

TEST(ClientRateTable, EvictsTheLeastRecentlyUsedOfItsSet)
{
    // One set (8 ways): the ninth address evicts the one used longest ago.
    client_rate_table t(client_rate_table::ways, 1);
    for (std::uint32_t i = 0; i < client_rate_table::ways; ++i)
        EXPECT_EQ(taken(t, nth(i), t0 + std::chrono::milliseconds(i), 2, 0.001, 2), 2);
    // Address 0 is used again, so address 1 is now the oldest.
    EXPECT_FALSE(t.try_take(nth(0), t0 + 10ms, 0.001, 2));
    EXPECT_TRUE(t.try_take(nth(100), t0 + 20ms, 0.001, 2));
    EXPECT_EQ(t.evictions(), 1u);
    EXPECT_EQ(t.size(), client_rate_table::ways);
    EXPECT_FALSE(t.try_take(nth(0), t0 + 30ms, 0.001, 2)); // still tracked, still empty
    EXPECT_FALSE(t.try_take(nth(2), t0 + 30ms, 0.001, 2)); // still tracked, still empty
    EXPECT_TRUE(t.try_take(nth(1), t0 + 30ms, 0.001, 2));  // forgotten: a fresh bucket
}

TEST(ClientRateTable, SeedsSpreadAddressesOverSets)
{
    // With many sets, 64 addresses of one /26 land in more than one set (a fixed hash of
    // the last byte only would still pass; a constant one would not).
    client_rate_table t(4096, 7);
    for (std::uint32_t i = 0; i < 64; ++i)
        EXPECT_EQ(taken(t, nth(i), t0, 20, 0.001, 20), 20);
    EXPECT_EQ(t.size(), 64u);
    EXPECT_EQ(t.evictions(), 0u);
}

TEST(ClientRateTable, EventLoopsShareOneBucketPerAddress)
{
    // Four threads (as four event loops) take from the same address and from addresses of
    // their own, all at one instant: the shared address gives out exactly its burst.
    client_rate_table t(256, 1);
    std::atomic<int> shared_taken{0};
    std::vector<std::thread> loops;
    for (std::uint8_t n = 0; n < 4; ++n)
        loops.emplace_back([&t, &shared_taken, n] {
            for (int i = 0; i < 1000; ++i) {
                shared_taken += t.try_take(v4(198, 51, 100, 1), t0, 0, 100) ? 1 : 0;
                t.try_take(v4(10, 0, n, static_cast<std::uint8_t>(i % 8)), t0, 0, 100);
            }
        });
    for (auto& l : loops)
        l.join();
    EXPECT_EQ(shared_taken.load(), 100);
    EXPECT_EQ(t.size(), 1u + 4 * 8);
}

} // namespace
} // namespace got
