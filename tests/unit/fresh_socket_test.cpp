// fresh_socket (router/fresh_socket.cpp): sockets made non-blocking by accept4/socket and
// handed to Asio as such, on real loopback sockets: Asio's state says non-blocking and
// not a dup, reads and connects work through the reactor, and a closed socket leaves the
// loop's epoll set (read from the epoll descriptor's fdinfo).
#include "epoll_fdinfo.hpp"
#include "event_loop.hpp"
#include "fresh_socket.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

namespace got::test {
namespace {

using tcp = net::ip::tcp;

class FreshSocket : public ::testing::Test
{
protected:
    net::io_context io_{event_loop::concurrency_hint}; // as a data-path loop runs
    tcp::acceptor listener_{io_, tcp::endpoint(net::ip::address_v4::loopback(), 0)};

    // A connected pair: `client` (plain Asio) and the accepted end, from accept4.
    int accept_fresh(tcp_socket& client)
    {
        client.connect(listener_.local_endpoint());
        int fd =
            ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        EXPECT_GE(fd, 0) << std::strerror(errno);
        return fd;
    }
};

TEST_F(FreshSocket, AcceptedSocketReadsThroughTheLoop)
{
    tcp_socket client(io_);
    tcp_socket accepted(io_);
    boost::system::error_code ec;
    adopt_fresh(accepted, tcp::v4(), accept_fresh(client), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(adopted_fresh(accepted));
    EXPECT_TRUE(accepted.native_non_blocking()); // Asio's state: no ioctl to come
    EXPECT_TRUE(::fcntl(accepted.native_handle(), F_GETFL) & O_NONBLOCK);

    std::array<char, 5> got{};
    std::size_t n = 0;
    net::async_read(accepted, net::buffer(got), [&](boost::system::error_code e, std::size_t k) {
        ec = e;
        n = k;
    });
    io_.poll(); // nothing sent yet: the read waits in the reactor
    EXPECT_EQ(n, 0u);
    net::write(client, net::buffer("hello", 5));
    io_.run_for(std::chrono::seconds(5));
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::string(got.data(), n), "hello");
}

TEST_F(FreshSocket, OpenedSocketConnectsThroughTheLoop)
{
    tcp_socket s(io_);
    boost::system::error_code ec;
    open_fresh(s, tcp::v4(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(adopted_fresh(s));
    EXPECT_TRUE(::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(s.native_handle(), F_GETFD) & FD_CLOEXEC);
    bool done = false;
    s.async_connect(listener_.local_endpoint(), [&](boost::system::error_code e) {
        ec = e;
        done = true;
    });
    io_.run_for(std::chrono::seconds(5));
    ASSERT_TRUE(done);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(adopted_fresh(s)); // the connect kept the state
}

// The loop's reactor is remembered per thread: loops made and destroyed one after another
// (often at the same address) each get their own sockets registered with their own epoll,
// and a socket connects through each.
TEST(FreshSocketLoops, EachNewLoopRegistersWithItsOwnReactor)
{
    for (int i = 0; i < 20; ++i) {
        net::io_context io{event_loop::concurrency_hint};
        tcp::acceptor listener(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
        tcp_socket s(io);
        boost::system::error_code ec;
        open_fresh(s, tcp::v4(), ec);
        ASSERT_FALSE(ec) << ec.message();
        auto const events = epoll_events_of(inode_of(s.native_handle()));
        ASSERT_TRUE(events) << "loop " << i << ": not in an epoll set";
        bool done = false;
        s.async_connect(listener.local_endpoint(), [&](boost::system::error_code e) {
            ec = e;
            done = true;
        });
        io.run_for(std::chrono::seconds(5));
        ASSERT_TRUE(done) << "loop " << i;
        EXPECT_FALSE(ec) << ec.message();
    }
}

// Closed without EPOLL_CTL_DEL, the descriptor still leaves the epoll set: the kernel
// drops it with the file's last reference. (A dup'd descriptor keeps the file alive and
// would stay; which is why only fresh descriptors are adopted.)
TEST_F(FreshSocket, ClosedSocketLeavesTheEpollSet)
{
    tcp_socket client(io_);
    tcp_socket accepted(io_);
    boost::system::error_code ec;
    adopt_fresh(accepted, tcp::v4(), accept_fresh(client), ec);
    ASSERT_FALSE(ec);
    auto const inode = inode_of(accepted.native_handle());
    EXPECT_TRUE(in_some_epoll_set(inode));
    // A read pending in the reactor: close must abort it as usual.
    std::array<char, 1> byte{};
    boost::system::error_code read_ec;
    accepted.async_read_some(net::buffer(byte),
                             [&](boost::system::error_code e, std::size_t) { read_ec = e; });
    io_.poll();
    accepted.close(ec);
    ASSERT_FALSE(ec);
    io_.poll();
    EXPECT_EQ(read_ec, net::error::operation_aborted);
    EXPECT_FALSE(in_some_epoll_set(inode));

    // The check can see a registration that stays: a socket whose file lives on in a dup.
    tcp_socket client2(io_);
    tcp_socket other(io_);
    adopt_fresh(other, tcp::v4(), accept_fresh(client2), ec);
    ASSERT_FALSE(ec);
    int const dup = ::dup(other.native_handle());
    auto const other_inode = inode_of(dup);
    other.close(ec); // no DEL: adopt_fresh's promise broken on purpose
    EXPECT_TRUE(in_some_epoll_set(other_inode));
    ::close(dup);
    EXPECT_FALSE(in_some_epoll_set(other_inode));
}

TEST_F(FreshSocket, AdoptingIntoAnOpenSocketClosesTheDescriptor)
{
    tcp_socket client(io_);
    tcp_socket s(io_);
    boost::system::error_code ec;
    open_fresh(s, tcp::v4(), ec);
    ASSERT_FALSE(ec);
    int fd = accept_fresh(client);
    adopt_fresh(s, tcp::v4(), fd, ec);
    EXPECT_EQ(ec, net::error::already_open);
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1); // closed, not leaked
    EXPECT_EQ(errno, EBADF);
}

} // namespace
} // namespace got::test
