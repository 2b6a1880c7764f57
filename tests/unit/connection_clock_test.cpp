// connection_clock and its loop's deadline_queue (router/connection_clock.cpp) on a
// real io_context: deadlines come in their order whatever order they were set in, a
// deadline moved earlier is kept, one moved later by activity is not cut short, a
// stopped or destroyed clock leaves the queue at once and never fires, a deadline
// closes the client socket, and clocks still queued when the loop is destroyed (held
// by its pending handlers, as parked sessions are) go without touching the queue.
// Margins are generous (deadlines of tens of milliseconds against bounds of seconds):
// these check order and membership, not timing.
#include "connection_clock.hpp"
#include "event_loop.hpp"

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <vector>

namespace got::test {
namespace {

using namespace std::chrono_literals;
using clock_type = connection_clock::clock;

class ConnectionClock : public ::testing::Test
{
protected:
    net::io_context io_{event_loop::concurrency_hint};

    deadline_queue& queue() { return deadline_queue::of(io_.get_executor()); }

    // Runs the loop until `done` or a bound of 5 s.
    template <class Pred>
    bool run_until(Pred done)
    {
        auto const bound = clock_type::now() + 5s;
        while (!done() && clock_type::now() < bound) {
            io_.restart();
            io_.run_for(5ms);
        }
        return done();
    }
};

TEST_F(ConnectionClock, DeadlinesComeInTheirOrderAndCloseTheClientSocket)
{
    tcp_socket sock(io_);
    sock.open(net::ip::tcp::v4());
    connection_clock late(io_.get_executor()), early(io_.get_executor());
    late.client = &sock;
    late.set_fixed(10s);
    early.set_fixed(20ms);
    EXPECT_EQ(queue().size(), 2u);

    ASSERT_TRUE(run_until([&] { return early.expired(); }));
    EXPECT_FALSE(late.expired());
    EXPECT_TRUE(sock.is_open());
    EXPECT_EQ(queue().size(), 1u); // the expired clock left the queue

    late.set_fixed(10ms); // moved earlier: kept at once
    ASSERT_TRUE(run_until([&] { return late.expired(); }));
    EXPECT_FALSE(sock.is_open());
    EXPECT_EQ(queue().size(), 0u);
}

TEST_F(ConnectionClock, ActivityMovesTheIdleDeadlineLater)
{
    connection_clock c(io_.get_executor());
    c.set_idle(150ms);
    auto const start = clock_type::now();
    // Activity every 20 ms for 400 ms: the deadline keeps moving.
    while (clock_type::now() - start < 400ms) {
        io_.restart();
        io_.run_for(20ms);
        ASSERT_FALSE(c.expired()) << "expired while active";
        c.touch();
    }
    auto const quiet_since = clock_type::now();
    ASSERT_TRUE(run_until([&] { return c.expired(); }));
    EXPECT_GE(clock_type::now() - quiet_since, 150ms);
}

TEST_F(ConnectionClock, StoppedAndDestroyedClocksLeaveTheQueueAndNeverFire)
{
    connection_clock stopped(io_.get_executor()), kept(io_.get_executor());
    stopped.set_fixed(10ms);
    {
        connection_clock gone(io_.get_executor());
        gone.set_fixed(5ms);
        EXPECT_EQ(queue().size(), 2u);
    }
    EXPECT_EQ(queue().size(), 1u);
    stopped.stop();
    EXPECT_EQ(queue().size(), 0u);
    stopped.set_fixed(1ms); // a stopped clock is not placed again
    EXPECT_EQ(queue().size(), 0u);
    kept.set_fixed(60ms);
    ASSERT_TRUE(run_until([&] { return kept.expired(); }));
    EXPECT_FALSE(stopped.expired());
}

TEST_F(ConnectionClock, AnAttemptDeadlineClosesTheAttemptAloneAndTheClockGoesOn)
{
    tcp_socket attempt(io_), client(io_);
    attempt.open(net::ip::tcp::v4());
    client.open(net::ip::tcp::v4());
    connection_clock c(io_.get_executor());
    c.client = &client;
    c.set_fixed(10s);
    c.start_attempt(attempt, 20ms);
    ASSERT_TRUE(run_until([&] { return !attempt.is_open(); }));
    EXPECT_TRUE(c.end_attempt());
    EXPECT_FALSE(c.expired());
    EXPECT_TRUE(client.is_open());
    EXPECT_EQ(queue().size(), 1u); // placed again for the phase's deadline
}

// Many clocks, deadlines in random order, a random half stopped or destroyed, some moved
// earlier: the heap stays a heap with every clock knowing its place, exactly the others
// expire, each at or after its own deadline, and the queue ends empty.
TEST_F(ConnectionClock, ManyClocksInRandomOrderWithRemovals)
{
    std::mt19937 rng(7);
    constexpr int n = 2000;
    std::vector<std::unique_ptr<connection_clock>> clocks;
    std::vector<clock_type::time_point> deadlines;
    for (int i = 0; i < n; ++i) {
        clocks.push_back(std::make_unique<connection_clock>(io_.get_executor()));
        auto d = std::chrono::milliseconds(20 + rng() % 200);
        clocks.back()->set_fixed(d);
        deadlines.push_back(clocks.back()->deadline());
    }
    std::vector<bool> removed(n);
    for (int i = 0; i < n; ++i) {
        if (rng() % 2 == 0)
            continue;
        removed[i] = true;
        if (rng() % 2)
            clocks[i]->stop();
        else
            clocks[i].reset();
        ASSERT_TRUE(queue().consistent()) << "after removing " << i;
    }
    // Moved earlier, some of the live ones: up the heap.
    for (int i = 0; i < n; i += 7) {
        if (!removed[i]) {
            clocks[i]->set_fixed(std::chrono::milliseconds(10 + rng() % 10));
            deadlines[i] = clocks[i]->deadline();
            ASSERT_TRUE(queue().consistent()) << "after moving " << i;
        }
    }
    // Each live clock's expiry is checked when the loop gives control back: every 5 ms.
    std::vector<clock_type::time_point> seen(n, clock_type::time_point::max());
    auto all_seen = [&] {
        bool all = true;
        for (int i = 0; i < n; ++i) {
            if (removed[i])
                continue;
            if (clocks[i]->expired() && seen[i] == clock_type::time_point::max())
                seen[i] = clock_type::now();
            all = all && clocks[i]->expired();
        }
        EXPECT_TRUE(queue().consistent());
        return all;
    };
    ASSERT_TRUE(run_until(all_seen));
    for (int i = 0; i < n; ++i) {
        if (removed[i]) {
            if (clocks[i]) {
                EXPECT_FALSE(clocks[i]->expired()) << i;
            }
            continue;
        }
        EXPECT_GE(seen[i], deadlines[i]) << i;
    }
    EXPECT_EQ(queue().size(), 0u);
}

// A parked session is a pending handler that owns its clock: destroying the loop
// destroys it, after the queue was shut down (ASan checks the queue is not touched).
TEST(ConnectionClockShutdown, ClocksHeldByPendingHandlersGoWithTheLoop)
{
    auto io = std::make_unique<net::io_context>(event_loop::concurrency_hint);
    for (int i = 0; i < 50; ++i) {
        auto c = std::make_unique<connection_clock>(io->get_executor());
        c->set_fixed(10s);
        net::post(*io, [c = std::move(c)] {});
    }
    EXPECT_EQ(deadline_queue::of(io->get_executor()).size(), 50u);
    io.reset();
    // A new loop (perhaps at the old address) gets a queue of its own.
    net::io_context next(event_loop::concurrency_hint);
    EXPECT_EQ(deadline_queue::of(next.get_executor()).size(), 0u);
}

} // namespace
} // namespace got::test
