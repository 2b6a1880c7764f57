// both() (router/splice.hpp): two coroutines, one spawned beside the other, the pair done
// when both are. Whichever ends first, the caller resumes only after both; an exception
// from either comes out once both have ended; and a loop torn down while the inline part
// waits for `beside` destroys the waiting coroutine's frames (the server relies on that
// to end sessions cut at the end of the shutdown grace period).
#include "splice.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace got {
namespace {

using namespace std::chrono_literals;

// Records its events in order.
struct journal
{
    std::vector<std::string> events;
    void note(std::string e) { events.push_back(std::move(e)); }
};

// Waits `d` on the loop, then notes `name`.
awaitable<void> after(net::io_context& io, std::chrono::milliseconds d, journal& j,
                      std::string name)
{
    net::steady_timer t(io, d);
    co_await t.async_wait(net::use_awaitable);
    j.note(std::move(name));
}

awaitable<void> run_both(net::io_context& io, journal& j, std::chrono::milliseconds beside,
                         std::chrono::milliseconds inline_part)
{
    co_await both(after(io, beside, j, "beside"), after(io, inline_part, j, "inline"));
    j.note("both");
}

TEST(Both, InlineEndsFirstThenWaitsForBeside)
{
    net::io_context io;
    journal j;
    net::co_spawn(io, run_both(io, j, 30ms, 1ms), net::detached);
    io.run();
    EXPECT_EQ(j.events, (std::vector<std::string>{"inline", "beside", "both"}));
}

TEST(Both, BesideEndsFirst)
{
    net::io_context io;
    journal j;
    net::co_spawn(io, run_both(io, j, 1ms, 30ms), net::detached);
    io.run();
    EXPECT_EQ(j.events, (std::vector<std::string>{"beside", "inline", "both"}));
}

awaitable<void> throw_after(net::io_context& io, std::chrono::milliseconds d)
{
    net::steady_timer t(io, d);
    co_await t.async_wait(net::use_awaitable);
    throw std::runtime_error("beside failed");
}

TEST(Both, BesideFailureComesOutAfterBothEnded)
{
    net::io_context io;
    journal j;
    std::string caught;
    net::co_spawn(
        io,
        [&]() -> awaitable<void> {
            try {
                co_await both(throw_after(io, 1ms), after(io, 30ms, j, "inline"));
            } catch (std::runtime_error const& e) {
                caught = e.what();
            }
            j.note("caught");
        },
        net::detached);
    io.run();
    EXPECT_EQ(caught, "beside failed");
    EXPECT_EQ(j.events, (std::vector<std::string>{"inline", "caught"}));
}

// Notes its own destruction: a frame that holds one was destroyed.
struct destroyed_flag
{
    bool& flag;
    ~destroyed_flag() { flag = true; }
};

TEST(Both, TornDownLoopDestroysTheWaitingCoroutine)
{
    bool outer_gone = false;
    journal j;
    {
        net::io_context io;
        net::co_spawn(
            io,
            [&]() -> awaitable<void> {
                destroyed_flag mark{outer_gone};
                // `beside` waits an hour; the inline part ends at once and waits for it.
                co_await both(after(io, std::chrono::hours(1), j, "beside"),
                              after(io, 1ms, j, "inline"));
                j.note("both");
            },
            net::detached);
        io.run_for(50ms);
        ASSERT_EQ(j.events, (std::vector<std::string>{"inline"}));
        EXPECT_FALSE(outer_gone);
    } // the loop goes with `beside` pending
    EXPECT_TRUE(outer_gone);
    EXPECT_EQ(j.events, (std::vector<std::string>{"inline"}));
}

} // namespace
} // namespace got
