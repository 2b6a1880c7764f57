// The balancer's policies over hand-made candidate states: no sockets, no clocks.
#include "common/balancer.hpp"

#include <array>
#include <gtest/gtest.h>
#include <map>
#include <vector>

namespace got {
namespace {

std::vector<candidate_view> three(unsigned w0 = 1, unsigned w1 = 1, unsigned w2 = 1)
{
    return {{w0, false, true, 0, 0, 11}, {w1, false, true, 0, 0, 22}, {w2, false, true, 0, 0, 33}};
}

TEST(Balancer, SmoothScheduleSpreadsTheHeavyOne)
{
    std::array<unsigned, 3> w{5, 1, 1};
    auto s = smooth_weighted_schedule(w);
    ASSERT_EQ(s.size(), 7u);
    std::vector<std::uint16_t> expected{0, 0, 1, 0, 2, 0, 0};
    EXPECT_EQ(s, expected);
}

TEST(Balancer, RoundRobinFollowsTheScheduleAndSkipsDown)
{
    auto cs = three();
    std::array<unsigned, 3> w{1, 1, 1};
    auto schedule = smooth_weighted_schedule(w);
    std::map<int, int> picks;
    for (std::uint64_t t = 0; t < 300; ++t) {
        pick_request r;
        r.ticket = t;
        r.schedule = schedule;
        ++picks[pick_backend(cs, r)];
    }
    EXPECT_EQ(picks[0], 100);
    EXPECT_EQ(picks[1], 100);
    EXPECT_EQ(picks[2], 100);

    cs[1].up = false;
    for (std::uint64_t t = 0; t < 30; ++t) {
        pick_request r;
        r.ticket = t;
        r.schedule = schedule;
        EXPECT_NE(pick_backend(cs, r), 1);
    }
}

TEST(Balancer, TriedAndSaturatedAreSkippedAndBackupsComeLast)
{
    auto cs = three();
    cs[2].backup = true;
    pick_request r;
    r.policy = balance_policy::least_connections;
    r.tried_mask = 0b001;
    EXPECT_EQ(pick_backend(cs, r), 1);
    cs[1].max_connections = 2;
    cs[1].active = 2;
    EXPECT_EQ(pick_backend(cs, r), 2) << "only the backup is left";
    cs[2].up = false;
    EXPECT_EQ(pick_backend(cs, r), -1);
}

TEST(Balancer, LeastConnectionsWeighsLoad)
{
    auto cs = three(1, 3, 1);
    cs[0].active = 1;
    cs[1].active = 2; // 2/3 per weight: less loaded than 1/1
    cs[2].active = 1;
    pick_request r;
    r.policy = balance_policy::least_connections;
    EXPECT_EQ(pick_backend(cs, r), 1);
}

TEST(Balancer, RandomPicksTheLessLoadedOfTwo)
{
    auto cs = three();
    cs[0].active = 5;
    pick_request r;
    r.policy = balance_policy::random;
    r.random_a = 0; // candidate 0
    r.random_b = 2; // candidate 2
    EXPECT_EQ(pick_backend(cs, r), 2);
}

TEST(Balancer, SourceHashIsStableAndMovesOnlyTheLeaversClients)
{
    auto cs = three();
    std::vector<int> before;
    for (std::uint64_t client = 0; client < 200; ++client) {
        pick_request r;
        r.policy = balance_policy::source_hash;
        r.client_hash = stable_hash(&client, sizeof client);
        before.push_back(pick_backend(cs, r));
        EXPECT_EQ(pick_backend(cs, r), before.back());
    }
    cs[1].up = false;
    for (std::uint64_t client = 0; client < 200; ++client) {
        pick_request r;
        r.policy = balance_policy::source_hash;
        r.client_hash = stable_hash(&client, sizeof client);
        int now = pick_backend(cs, r);
        if (before[client] != 1)
            EXPECT_EQ(now, before[client]) << "client " << client << " moved needlessly";
        else
            EXPECT_NE(now, 1);
    }
}

} // namespace
} // namespace got
