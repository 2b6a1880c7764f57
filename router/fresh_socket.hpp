// Sockets the router opens itself, already non-blocking (accept4 and socket with
// SOCK_NONBLOCK | SOCK_CLOEXEC), handed to Asio without the system calls Asio would
// add to each one.
//
// Asio accepts with accept(2) and sets O_NONBLOCK with ioctl(FIONBIO) before the first
// wait on the socket; it opens a backend socket blocking and does the same. And since
// assign() cannot know whether the descriptor is a dup of another one, Asio marks an
// assigned socket "possible dup" and removes it from epoll (EPOLL_CTL_DEL) before
// close, where the kernel would drop a descriptor nothing else refers to by itself.
// That is three system calls per connection that HAProxy and nginx do not make (they
// accept4(SOCK_NONBLOCK) and close). Here the descriptor is created non-blocking and
// Asio's per-socket state is told so, and that it is no dup. It is registered with the
// loop's epoll as nginx registers a connection (drained_receive.hpp's assign_watched):
// for EPOLLRDHUP always (the peer-close watch), for EPOLLOUT when the router opened it
// (a backend connect's wait), so neither takes an epoll_ctl(MOD) later; a socket it
// accepted gets EPOLLOUT on its first wait for room, not an edge per ACK before that.
//
// The state is Asio's own (basic_socket's implementation, socket_ops' flags): this is
// written against Boost 1.81, the version the design fixes; the static_assert in
// fresh_socket.cpp stops a build against another until the flags are checked again.
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace got {

// Gives the closed socket `s` the descriptor `fd`, which must be non-blocking and
// referred to by nothing else (fresh from accept4). On failure `fd` is closed and `ec`
// says why.
void adopt_fresh(tcp_socket& s, net::ip::tcp protocol, int fd, boost::system::error_code& ec);

// Opens `s` (closed) as a new non-blocking TCP socket of `protocol`.
void open_fresh(tcp_socket& s, net::ip::tcp protocol, boost::system::error_code& ec);

// Whether Asio's state for `s` says it set O_NONBLOCK itself and that `s` is no dup:
// what adopt_fresh leaves (for the tests).
bool adopted_fresh(tcp_socket& s);

} // namespace got
