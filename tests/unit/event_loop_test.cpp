// event_loop (router/event_loop.hpp): a data-path loop runs its io_context without
// locks, and other threads reach it only through its mailbox. Functions sent from
// several threads, before and while the loop runs, all run on the loop's thread, each
// sender's in the order sent; a stop sent through the mailbox ends run(). Under TSan
// (scripts/sanitize.sh) this is also the check that nothing else crosses threads.
#include "event_loop.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>
#include <thread>
#include <utility>
#include <vector>

namespace got::test {
namespace {

using namespace std::chrono_literals;

static_assert(!BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, event_loop::concurrency_hint));
static_assert(!BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, event_loop::concurrency_hint));

TEST(EventLoop, FunctionsFromOtherThreadsRunOnTheLoopInTheirOrder)
{
    event_loop loop;
    constexpr int senders = 3, each = 2000;
    std::vector<std::pair<int, int>> ran; // touched on the loop's thread only
    std::vector<std::thread::id> where;
    bool early = false;
    loop.mail.send([&] { early = true; }); // before the loop runs

    std::thread runner([&] {
        auto guard = net::make_work_guard(loop.io);
        loop.io.run();
    });
    std::vector<std::thread> threads;
    for (int s = 0; s < senders; ++s)
        threads.emplace_back([&, s] {
            for (int i = 0; i < each; ++i)
                loop.mail.send([&, s, i] {
                    ran.emplace_back(s, i);
                    where.push_back(std::this_thread::get_id());
                });
        });
    for (auto& t : threads)
        t.join();
    auto const loop_thread = runner.get_id();
    loop.mail.send([&] { loop.io.stop(); });
    runner.join(); // hangs (and the test times out) if the stop never arrives

    EXPECT_TRUE(early);
    ASSERT_EQ(ran.size(), std::size_t{senders * each});
    std::vector<int> next(senders, 0);
    for (auto [s, i] : ran) {
        ASSERT_EQ(i, next[s]) << "sender " << s << " out of order";
        ++next[s];
    }
    for (auto id : where)
        ASSERT_EQ(id, loop_thread);
}

TEST(EventLoop, MailboxWakesALoopThatSleepsInEpoll)
{
    event_loop loop;
    std::thread runner([&] {
        auto guard = net::make_work_guard(loop.io);
        loop.io.run();
    });
    // Nothing else to do: the loop's thread is asleep in epoll_wait when each arrives.
    int delivered = 0;
    for (int round = 0; round < 5; ++round) {
        std::this_thread::sleep_for(20ms);
        loop.mail.send([&] { ++delivered; });
    }
    std::this_thread::sleep_for(20ms);
    loop.mail.send([&] { loop.io.stop(); });
    runner.join();
    EXPECT_EQ(delivered, 5);
}

TEST(EventLoop, LoopTimersAndMailboxTogether)
{
    // The loop's own work (a timer re-armed 50 times) goes on while functions arrive.
    event_loop loop;
    net::steady_timer timer(loop.io);
    int ticks = 0, delivered = 0;
    std::function<void()> tick = [&] {
        timer.expires_after(1ms);
        timer.async_wait([&](boost::system::error_code ec) {
            if (!ec && ++ticks < 50)
                tick();
        });
    };
    tick();
    // No work guard: the mailbox's own pending wait keeps run() going until the stop.
    std::thread runner([&] { loop.io.run(); });
    for (int i = 0; i < 200; ++i) {
        loop.mail.send([&] { ++delivered; });
        if (i % 20 == 0)
            std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(100ms);
    loop.mail.send([&] { loop.io.stop(); });
    runner.join();
    EXPECT_EQ(ticks, 50);
    EXPECT_EQ(delivered, 200);
}

} // namespace
} // namespace got::test
