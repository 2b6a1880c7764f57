// got_router_backend_up against the health state it reports (router/backend_state):
// a health transition that lands while a config snapshot is being built must show at
// the next scrape. The old code copied `up` into the gauge during the build (read the
// state, then store the gauge), so a transition between the two was overwritten and
// the gauge stayed wrong until the next transition or reload. These tests place the
// transition at each step of a build, and race transitions, builds and scrapes.
#include "backend_state.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

#include <atomic>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace got {
namespace {

// The sample's value in the exposition, or "" when the series is not there.
std::string scraped_up(std::string const& route, std::string const& backend)
{
    std::string text = metrics::get().render();
    std::string key = "got_router_backend_up{route=\"" + route + "\",backend=\"" + backend + "\"} ";
    auto at = text.find(key);
    if (at == std::string::npos)
        return "";
    at += key.size();
    return text.substr(at, text.find('\n', at) - at);
}

// What build_runtime does for one backend candidate, in its order: the series, the
// state, then the binding of one to the other.
struct snapshot_build
{
    snapshot_build(std::string r, std::string b)
        : route(std::move(r))
        , backend(std::move(b))
    {}

    std::string route, backend;
    backend_metrics* stats = nullptr;
    std::shared_ptr<backend_state> state;

    void take_series() { stats = metrics::get().backend(route, backend); }
    void take_state() { state = backend_state_for(route, backend); }
    void bind() { metrics::get().report_backend_up(stats, {state, &state->up}); }
};

class BackendUpGauge : public ::testing::Test
{
protected:
    void SetUp() override { log::set_level(log_level::error); } // transitions log at info/warning
};

TEST_F(BackendUpGauge, FollowsTransitionsAfterTheBuild)
{
    snapshot_build b{"gauge-after", "10.0.0.1:70"};
    b.take_series();
    b.take_state();
    b.bind();
    EXPECT_EQ(scraped_up(b.route, b.backend), "1");
    b.state->record(false, 1, 1, "test");
    EXPECT_EQ(scraped_up(b.route, b.backend), "0");
    b.state->record(true, 1, 1, "test");
    EXPECT_EQ(scraped_up(b.route, b.backend), "1");
}

// A transition whose gauge update was lost (in the old code: overwritten by a build that
// had read `up` just before the transition) leaves only the state changed. The gauge
// must still say what the state says: it is read from the state, not kept beside it.
TEST_F(BackendUpGauge, ReadFromTheStateAtScrapeTime)
{
    snapshot_build b{"gauge-scrape-time", "10.0.0.7:70"};
    b.take_series();
    b.take_state();
    b.bind();
    b.state->up.store(false); // the flag alone, as after the lost update
    EXPECT_EQ(scraped_up(b.route, b.backend), "0");
    b.state->up.store(true);
    EXPECT_EQ(scraped_up(b.route, b.backend), "1");
}

// The interleaving that lost a transition: the build has the state in hand (the old
// code read `up` here: true), the health checker marks the backend down, then the build
// binds the gauge (the old code stored the `up` it had read: 1).
TEST_F(BackendUpGauge, DownDuringTheBuildIsNotOverwritten)
{
    snapshot_build b{"gauge-down-during", "10.0.0.2:70"};
    b.take_series();
    b.take_state();
    ASSERT_TRUE(b.state->up.load());
    b.state->record(false, 1, 1, "test"); // the transition, between read and bind
    b.bind();
    EXPECT_EQ(scraped_up(b.route, b.backend), "0");
}

TEST_F(BackendUpGauge, UpDuringTheBuildIsNotOverwritten)
{
    snapshot_build b{"gauge-up-during", "10.0.0.3:70"};
    b.take_series();
    b.take_state();
    b.bind();
    b.state->record(false, 1, 1, "test");
    // A reload: the same series and state, bound again; the backend recovers between
    // the build taking the (down) state and binding it.
    snapshot_build reload{b.route, b.backend};
    reload.take_series();
    reload.take_state();
    ASSERT_EQ(reload.state, b.state);
    ASSERT_FALSE(reload.state->up.load());
    reload.state->record(true, 1, 1, "test");
    reload.bind();
    EXPECT_EQ(scraped_up(b.route, b.backend), "1");
}

// A transition before the series exists, and one between taking the series and the
// state: the new series (which starts out as "up") must not hide a down backend.
TEST_F(BackendUpGauge, DownBeforeTheSeriesExists)
{
    auto state = backend_state_for("gauge-down-before", "10.0.0.4:70");
    state->record(false, 1, 1, "test");
    snapshot_build b{"gauge-down-before", "10.0.0.4:70"};
    b.take_series();
    b.take_state();
    b.bind();
    EXPECT_EQ(scraped_up(b.route, b.backend), "0");

    snapshot_build c{"gauge-down-between", "10.0.0.5:70"};
    c.take_series();
    backend_state_for(c.route, c.backend)->record(false, 1, 1, "test");
    c.take_state();
    c.bind();
    EXPECT_EQ(scraped_up(c.route, c.backend), "0");
}

// Transitions from two threads (a health checker and a data loop), reloads binding the
// gauge again, and scrapes, all at once; when they stop, the gauge says what the state
// says. Under TSan this also checks that the scrape's read of the state is race-free.
// (Against the old copy-on-build code this did not fail in 100 repetitions: its window
// was two adjacent statements. ReadFromTheStateAtScrapeTime is the test that fails there.)
TEST_F(BackendUpGauge, RacingTransitionsBuildsAndScrapes)
{
    std::string const route = "gauge-race";
    std::string const backend = "10.0.0.6:70";
    for (int round = 0; round < 20; ++round) {
        snapshot_build first{route, backend};
        first.take_series();
        first.take_state();
        first.bind();
        std::atomic<bool> go{false};
        auto flip = [&](bool start_with) {
            while (!go.load()) {
            }
            for (int i = 0; i < 200; ++i)
                first.state->record(((i % 2) == 0) == start_with, 1, 1, "test");
        };
        auto rebuild = [&] {
            while (!go.load()) {
            }
            for (int i = 0; i < 200; ++i) {
                snapshot_build b{route, backend};
                b.take_series();
                b.take_state();
                b.bind();
            }
        };
        auto scrape = [&] {
            while (!go.load()) {
            }
            for (int i = 0; i < 20; ++i)
                (void)scraped_up(route, backend);
        };
        std::vector<std::thread> threads;
        threads.emplace_back(flip, false);
        threads.emplace_back(flip, true);
        threads.emplace_back(rebuild);
        threads.emplace_back(scrape);
        go = true;
        for (auto& t : threads)
            t.join();
        ASSERT_EQ(scraped_up(route, backend), first.state->up.load() ? "1" : "0")
            << "round " << round;
    }
}

} // namespace
} // namespace got
