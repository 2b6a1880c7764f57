// drained_receive (router/drained_receive.cpp) on real loopback sockets through Asio's
// epoll reactor: a socket the router opens is registered with EPOLLRDHUP and EPOLLOUT
// from the first, one it accepts with EPOLLRDHUP and with EPOLLOUT from its first wait
// for room (read back from the epoll descriptor's fdinfo); a short read marks a watched
// socket drained, so the next receive waits without a read, unless epoll reported the peer's FIN,
// which then arrives as EOF at once; a socket whose last report had nothing to read waits without a
// read from the start (expect_quiet), and bytes that came before are not lost.
#include "drained_receive.hpp"
#include "epoll_fdinfo.hpp"
#include "event_loop.hpp"
#include "fresh_socket.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace got::test {
namespace {

using tcp = net::ip::tcp;
using namespace std::chrono_literals;

struct received
{
    bool done = false;
    boost::system::error_code ec;
    std::string bytes;
};

awaitable<void> receive_once(tcp_socket& s, received& r)
{
    std::array<char, 64> buf{};
    auto [ec, n] = co_await receive_drained(s, net::buffer(buf));
    r.done = true;
    r.ec = ec;
    r.bytes.assign(buf.data(), n);
}

struct wait_result
{
    bool done = false;
    boost::system::error_code ec;
};

awaitable<void> wait_noted_once(tcp_socket& s, ready_for what, wait_result& r)
{
    auto [ec] = co_await wait_noted(s, what);
    r.done = true;
    r.ec = ec;
}

class DrainedReceive : public ::testing::Test
{
protected:
    net::io_context io_{event_loop::concurrency_hint}; // as a data-path loop runs
    tcp::acceptor listener_{io_, tcp::endpoint(net::ip::address_v4::loopback(), 0)};
    tcp_socket backend_{io_}; // our end, opened and connected as a backend is
    tcp_socket peer_{io_};    // the other end, plain Asio

    // `backend_` connected to `peer_` through the loop. `fresh`: opened as backend_link
    // opens one (open_fresh: watched for the peer's FIN from its registration); `asio`:
    // by Asio's own open, unwatched.
    enum class opened
    {
        fresh,
        asio,
    };
    void connect(opened how)
    {
        boost::system::error_code ec;
        if (how == opened::fresh)
            open_fresh(backend_, tcp::v4(), ec);
        else
            backend_.open(tcp::v4(), ec);
        ASSERT_FALSE(ec) << ec.message();
        bool connected = false;
        backend_.async_connect(listener_.local_endpoint(), [&](boost::system::error_code e) {
            ec = e;
            connected = true;
        });
        listener_.accept(peer_);
        io_.run_for(5s);
        io_.restart();
        ASSERT_TRUE(connected);
        ASSERT_FALSE(ec) << ec.message();
    }

    received receive()
    {
        received r;
        net::co_spawn(io_, receive_once(backend_, r), net::detached);
        io_.run_for(5s); // returns once the receive completed
        io_.restart();
        return r;
    }

    void send(std::string_view bytes) { net::write(peer_, net::buffer(bytes)); }

    // A wait for readable: still pending after a turn of the loop, done once bytes come.
    void expect_done_when_bytes_come(wait_result const& r)
    {
        report();
        EXPECT_FALSE(r.done); // nothing to read yet
        send("x");
        expect_done(r);
    }

    // The loop runs until `r` is done (5 s at most): done, without an error.
    void expect_done(wait_result const& r)
    {
        io_.run_for(5s);
        io_.restart();
        EXPECT_TRUE(r.done);
        EXPECT_FALSE(r.ec) << r.ec.message();
    }

    // As the TLS stream reads with OpenSSL's read-ahead: epoll reports the bytes, one recv
    // takes all `n` of them and asked for more (a short read), and says so.
    void read_short_and_note(std::size_t n)
    {
        report();
        std::array<char, 16> buf{};
        ASSERT_EQ(::recv(backend_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT),
                  static_cast<ssize_t>(n));
        note_short_read(backend_);
    }

    // As the TLS stream reads: a recv that says EAGAIN, noted; then the wait.
    void note_empty_and_wait(wait_result& r, std::string_view meanwhile = {})
    {
        report(); // the registration's first report
        char byte = 0;
        ASSERT_LT(::recv(backend_.native_handle(), &byte, 1, MSG_DONTWAIT), 0);
        ASSERT_EQ(errno, EAGAIN);
        note_would_block(backend_, ready_for::read);
        if (!meanwhile.empty()) {
            send(meanwhile);
            report(); // reported with no operation waiting
        }
        net::co_spawn(io_, wait_noted_once(backend_, ready_for::read, r), net::detached);
    }

    // A pending wait: still pending after a turn of the loop, done with operation_aborted
    // once `backend_` closes.
    void expect_ended_by_the_close(wait_result const& r)
    {
        report();
        EXPECT_FALSE(r.done);
        backend_.close();
        io_.run_for(5s);
        io_.restart();
        EXPECT_TRUE(r.done);
        EXPECT_EQ(r.ec, net::error::operation_aborted);
    }

    // Sends until `backend_` has no room (EAGAIN).
    void fill()
    {
        std::array<char, 4096> chunk{};
        while (::send(backend_.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
        }
        ASSERT_EQ(errno, EAGAIN);
    }

    // A wait for writable on a full socket: still pending after a turn of the loop, done
    // once the peer reads.
    void expect_done_when_the_peer_reads(wait_result const& r)
    {
        report();
        EXPECT_FALSE(r.done); // still full
        std::array<char, 4096> chunk{};
        for (int i = 0; i < 500 && !r.done; ++i) {
            while (::recv(peer_.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
            }
            io_.run_for(10ms);
            io_.restart();
        }
        EXPECT_TRUE(r.done);
        EXPECT_FALSE(r.ec) << r.ec.message();
    }

    // One turn of the loop's epoll with nothing else to do (poll() alone returns at
    // once when the loop has no work).
    void report()
    {
        auto work = net::make_work_guard(io_);
        io_.poll();
        work.reset();
        io_.restart();
    }
};

// A socket the router opens (a backend's) is registered for EPOLLOUT and EPOLLRDHUP with
// its EPOLL_CTL_ADD, as nginx registers one: no later change for either.
TEST_F(DrainedReceive, FreshSocketIsWatchedFromItsRegistration)
{
    boost::system::error_code ec;
    open_fresh(backend_, tcp::v4(), ec);
    ASSERT_FALSE(ec);
    auto const events = epoll_events_of(inode_of(backend_.native_handle()));
    ASSERT_TRUE(events);
    EXPECT_TRUE(*events & EPOLLRDHUP);
    EXPECT_TRUE(*events & EPOLLOUT);
    EXPECT_TRUE(*events & EPOLLET);
    EXPECT_TRUE(peer_close_watched(backend_));
}

// A socket the router accepts is registered for EPOLLRDHUP but not for EPOLLOUT, as nginx
// registers one: each ACK of what the router sent would otherwise be a report, and a
// wake-up, with nothing to do. The first wait for room adds EPOLLOUT (Asio's MOD), and
// the wait completes once the peer reads.
TEST_F(DrainedReceive, AcceptedSocketIsWatchedForWritableOnlyWhenWaited)
{
    peer_.connect(listener_.local_endpoint());
    int fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(fd, 0);
    boost::system::error_code ec;
    adopt_fresh(backend_, tcp::v4(), fd, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto events = epoll_events_of(inode_of(fd));
    ASSERT_TRUE(events);
    EXPECT_TRUE(*events & EPOLLRDHUP);
    EXPECT_FALSE(*events & EPOLLOUT);
    EXPECT_TRUE(peer_close_watched(backend_));

    ASSERT_NO_FATAL_FAILURE(fill());
    note_would_block(backend_, ready_for::write);
    wait_result r;
    net::co_spawn(io_, wait_noted_once(backend_, ready_for::write, r), net::detached);
    report();
    events = epoll_events_of(inode_of(fd));
    ASSERT_TRUE(events);
    EXPECT_TRUE(*events & EPOLLOUT);
    expect_done_when_the_peer_reads(r);

    // Short reads still drain it (EPOLLRDHUP is what says a FIN cannot hide).
    send("abc");
    report(); // (as in the test below: a report after the read would allow a try again)
    auto got = receive();
    ASSERT_TRUE(got.done);
    EXPECT_EQ(got.bytes, "abc");
    EXPECT_FALSE(receive_tries_first(backend_));
}

TEST_F(DrainedReceive, ShortReadOnAWatchedSocketWaitsForTheNextEdge)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    report(); // (a report handled after the read would allow a try again: safe, not tested)
    auto r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.bytes, "abc");
    EXPECT_FALSE(receive_tries_first(backend_)); // drained: no read before the next edge

    send("def"); // the next edge
    r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "def");

    peer_.shutdown(tcp_socket::shutdown_send); // a FIN on its own edge
    r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.ec, net::error::eof);
}

TEST_F(DrainedReceive, FinReportedWithTheLastBytesIsReadAtOnce)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    peer_.shutdown(tcp_socket::shutdown_send);
    report(); // epoll reports bytes and FIN together: EPOLLIN | EPOLLRDHUP
    auto r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "abc");
    EXPECT_TRUE(receive_tries_first(backend_)); // the FIN is still to read: no edge will come
    r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.ec, net::error::eof);
}

TEST_F(DrainedReceive, FinWithTheLastBytesEndsTheNextReceive)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    peer_.shutdown(tcp_socket::shutdown_send);
    auto r = receive(); // whether or not epoll reported bytes and FIN before the read
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "abc");
    r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.ec, net::error::eof);
}

TEST_F(DrainedReceive, UnwatchedSocketKeepsAsiosRule)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    send("abc");
    auto r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "abc");
    EXPECT_TRUE(receive_tries_first(backend_)); // without EPOLLRDHUP a FIN could hide
    peer_.shutdown(tcp_socket::shutdown_send);
    r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.ec, net::error::eof);
}

TEST_F(DrainedReceive, ExpectQuietWaitsWithoutARead)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    expect_quiet(backend_); // the connect's report had nothing to read
    EXPECT_FALSE(receive_tries_first(backend_));
    received r;
    net::co_spawn(io_, receive_once(backend_, r), net::detached);
    io_.poll();
    io_.restart();
    EXPECT_FALSE(r.done);
    send("reply");
    io_.run_for(5s);
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "reply");
}

TEST_F(DrainedReceive, ExpectQuietLosesNothingThatCameBeforeItsReport)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("early"); // not yet reported: its edge is still to come
    expect_quiet(backend_);
    EXPECT_FALSE(receive_tries_first(backend_));
    auto r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "early");
}

TEST_F(DrainedReceive, ExpectQuietTriesWhenEpollReportedBytes)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("early");
    report(); // reported: no edge will come again for these bytes
    expect_quiet(backend_);
    EXPECT_TRUE(receive_tries_first(backend_));
    auto r = receive();
    ASSERT_TRUE(r.done);
    EXPECT_EQ(r.bytes, "early");
}

TEST_F(DrainedReceive, AcceptedSocketStartsWithNoReport)
{
    // A fresh registration forgets what epoll last reported for the reused descriptor
    // state: a socket that has been reported readable and closed, then a new one.
    tcp_socket client(io_);
    client.connect(listener_.local_endpoint());
    int fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(fd, 0);
    tcp_socket accepted(io_);
    boost::system::error_code ec;
    adopt_fresh(accepted, tcp::v4(), fd, ec);
    ASSERT_FALSE(ec);
    net::write(client, net::buffer("x", 1));
    {
        auto work = net::make_work_guard(io_);
        io_.poll(); // reported readable
        io_.restart();
    }
    accepted.close();
    client.close();

    client.connect(listener_.local_endpoint());
    fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(fd, 0);
    adopt_fresh(accepted, tcp::v4(), fd, ec);
    ASSERT_FALSE(ec);
    expect_quiet(accepted);
    EXPECT_FALSE(receive_tries_first(accepted));
}

// receive_now: bytes that are there come back at once, with no Asio operation; an
// empty socket says would_block and Asio's next receive waits for epoll without a try
// of its own, yet gets bytes that come after; a peer's FIN is EOF.
TEST_F(DrainedReceive, ReceiveNowReadsWhatIsThere)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    send("abc");
    std::array<char, 16> buf{};
    auto r = receive_now(backend_, net::buffer(buf));
    EXPECT_FALSE(r.would_block);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(std::string(buf.data(), r.n), "abc");
    EXPECT_TRUE(receive_tries_first(backend_));
}

TEST_F(DrainedReceive, ReceiveNowOnAnEmptySocketLeavesTheWaitToEpoll)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    std::array<char, 16> buf{};
    auto r = receive_now(backend_, net::buffer(buf));
    EXPECT_TRUE(r.would_block);
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.n, 0u);
    EXPECT_FALSE(receive_tries_first(backend_));
    send("later");
    auto got = receive(); // through epoll's report of the bytes
    ASSERT_TRUE(got.done);
    EXPECT_FALSE(got.ec) << got.ec.message();
    EXPECT_EQ(got.bytes, "later");
}

TEST_F(DrainedReceive, ReceiveNowSeesThePeersCloseAsEof)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    peer_.shutdown(tcp_socket::shutdown_send);
    std::array<char, 16> buf{};
    auto r = receive_now(backend_, net::buffer(buf));
    EXPECT_FALSE(r.would_block);
    EXPECT_EQ(r.ec, net::error::eof);
}

// wait_ready: a wait started as Asio starts a receive. For readable it completes when
// bytes come, not before; for writable once epoll reports room (EPOLLOUT registered
// once, and then kept); a socket closed under it completes with operation_aborted.
void note_wait(void* ctx, boost::system::error_code const& ec)
{
    auto* r = static_cast<wait_result*>(ctx);
    r->done = true;
    r->ec = ec;
}

TEST_F(DrainedReceive, WaitReadyForReadCompletesWhenBytesCome)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    wait_result r;
    wait_ready(backend_, ready_for::read, note_wait, &r);
    EXPECT_FALSE(r.done); // never inside the call
    expect_done_when_bytes_come(r);
}

// As the pumps use it: after a send that found no room (EAGAIN), until the peer reads.
TEST_F(DrainedReceive, WaitReadyForWriteCompletesWhenThePeerMakesRoom)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    ASSERT_NO_FATAL_FAILURE(fill());
    wait_result r;
    wait_ready(backend_, ready_for::write, note_wait, &r);
    auto const events = epoll_events_of(inode_of(backend_.native_handle()));
    ASSERT_TRUE(events);
    EXPECT_TRUE(*events & EPOLLOUT);
    expect_done_when_the_peer_reads(r);
}

// A read outside Asio said EAGAIN and noted it: the wait needs the next edge.
TEST_F(DrainedReceive, WaitNotedForReadWaitsForTheNextEdge)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    wait_result r;
    ASSERT_NO_FATAL_FAILURE(note_empty_and_wait(r));
    expect_done_when_bytes_come(r);
}

// An edge epoll reported between the note and the wait (the caller's coroutine was
// suspended meanwhile, say sending): the wait completes at once, the bytes are not
// waited past.
TEST_F(DrainedReceive, WaitNotedCompletesAtOnceForAnEdgeReportedSinceTheNote)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    wait_result r;
    ASSERT_NO_FATAL_FAILURE(note_empty_and_wait(r, "x"));
    report(); // no new edge comes: only the one already reported can complete it
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.ec) << r.ec.message();
}

TEST_F(DrainedReceive, WaitNotedForWriteCompletesWhenThePeerMakesRoom)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    ASSERT_NO_FATAL_FAILURE(fill());
    note_would_block(backend_, ready_for::write);
    wait_result r;
    net::co_spawn(io_, wait_noted_once(backend_, ready_for::write, r), net::detached);
    expect_done_when_the_peer_reads(r);
}

TEST_F(DrainedReceive, WaitNotedEndsWhenTheSocketCloses)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    wait_result r;
    ASSERT_NO_FATAL_FAILURE(note_empty_and_wait(r));
    expect_ended_by_the_close(r);
}

TEST_F(DrainedReceive, WaitReadyEndsWhenTheSocketCloses)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    wait_result r;
    wait_ready(backend_, ready_for::read, note_wait, &r);
    backend_.close();
    io_.run_for(5s);
    io_.restart();
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.ec, net::error::operation_aborted);
}

// wait_readable: as async_wait, bytes that came (and were reported) before the wait
// still complete it, where wait_ready, valid only right after EAGAIN, would wait on.
struct owned_wait : wait_result
{
    int discarded = 0;
};

void discard_wait(void* ctx) noexcept
{
    ++static_cast<owned_wait*>(ctx)->discarded;
}

constexpr wait_callbacks noting{note_wait, discard_wait};

TEST_F(DrainedReceive, WaitReadableSeesBytesThatCameBeforeIt)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    send("x");
    report(); // epoll reports the bytes while nothing waits
    owned_wait r;
    wait_readable(backend_, noting, &r);
    EXPECT_FALSE(r.done); // never inside the call
    io_.run_for(5s);
    io_.restart();
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.discarded, 0);
}

// After a read that drained a watched socket (a short read, told by note_short_read as
// the TLS stream tells it), the wait starts without re-registration: it waits for bytes
// that come after it, and gets those that came between the read and the wait.
TEST_F(DrainedReceive, WaitReadableAfterADrainingReadWaitsForWhatComesNext)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    ASSERT_NO_FATAL_FAILURE(read_short_and_note(3));
    EXPECT_FALSE(receive_tries_first(backend_));
    owned_wait r;
    wait_readable(backend_, noting, &r);
    expect_done_when_bytes_come(r);
}

TEST_F(DrainedReceive, WaitReadableAfterADrainingReadGetsBytesThatCameBeforeIt)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    ASSERT_NO_FATAL_FAILURE(read_short_and_note(3));
    send("request"); // its edge is still to be reported
    owned_wait r;
    wait_readable(backend_, noting, &r);
    expect_done(r);
}

// A short read after epoll reported the peer's FIN must not hide it: the wait re-arms.
TEST_F(DrainedReceive, ShortReadAfterAReportedFinKeepsTheTry)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::fresh));
    send("abc");
    peer_.shutdown(tcp_socket::shutdown_send);
    ASSERT_NO_FATAL_FAILURE(read_short_and_note(3));
    EXPECT_TRUE(receive_tries_first(backend_));
    owned_wait r;
    wait_readable(backend_, noting, &r);
    expect_done(r); // readable: the FIN
}

TEST_F(DrainedReceive, WaitReadableEndsWhenTheSocketCloses)
{
    ASSERT_NO_FATAL_FAILURE(connect(opened::asio));
    owned_wait r;
    wait_readable(backend_, noting, &r);
    expect_ended_by_the_close(r);
    EXPECT_EQ(r.discarded, 0);
}

// A loop destroyed with the wait pending (shutdown) discards the context, once, and
// never calls `done`: what the context owns is freed.
TEST(DrainedReceiveLoop, WaitReadableDiscardsItsContextWhenTheLoopGoesFirst)
{
    owned_wait r;
    {
        net::io_context io{event_loop::concurrency_hint};
        tcp::acceptor listener(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
        tcp_socket ours(io);
        tcp_socket peer(io);
        ours.connect(listener.local_endpoint());
        listener.accept(peer);
        wait_readable(ours, noting, &r);
        EXPECT_EQ(r.discarded, 0);
    } // the sockets close (the wait's completion is queued), then the loop goes unrun
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.discarded, 1);
}

// A listener's wait after accept4 said EAGAIN: completed by the next connection's edge.
// (That it makes no epoll_ctl shows only in strace: a MOD to the same events leaves the
// fdinfo as it was.)
TEST_F(DrainedReceive, WaitAcceptableCompletesWhenAConnectionComes)
{
    listener_.non_blocking(true);
    tcp::socket none(io_);
    boost::system::error_code ec;
    listener_.accept(none, ec);
    ASSERT_EQ(ec, net::error::would_block); // as the accept loop waits: after EAGAIN
    owned_wait r;
    wait_acceptable(listener_, noting, &r);
    report();
    EXPECT_FALSE(r.done);
    tcp::socket client(io_);
    client.connect(listener_.local_endpoint());
    io_.run_for(5s);
    io_.restart();
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.discarded, 0);
    tcp::socket accepted(io_);
    listener_.accept(accepted, ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST(DrainedReceiveLoop, WaitAcceptableDiscardsItsContextWhenTheLoopGoesFirst)
{
    owned_wait r;
    {
        net::io_context io{event_loop::concurrency_hint};
        tcp::acceptor listener(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
        wait_acceptable(listener, noting, &r);
        EXPECT_EQ(r.discarded, 0);
    }
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.discarded, 1);
}

} // namespace
} // namespace got::test
