// A receive that tells Asio's reactor when it has drained the socket, so that the next
// receive waits for epoll instead of first trying a read that finds nothing.
//
// Asio tries every receive once before it waits (a speculative read). After a short read
// the socket is nearly always empty, and the try costs a recv that says EAGAIN: one per
// message of a TLS handshake in each direction of a passed-through connection. Asio skips
// the try only after a read that returned nothing. nginx skips it after any short read,
// because a short read cannot hide a FIN from nginx: EPOLLRDHUP says whether one came.
// Without it, a FIN that came with the last bytes, in the same epoll edge, would go unseen
// until the idle deadline (tried that way once; the PROXY tests hung).
//
// Here a short read marks the socket drained only when EPOLLRDHUP is registered for it
// and the events epoll last reported for it carry no EPOLLRDHUP, EPOLLHUP or EPOLLERR.
// That is safe: bytes or a FIN that come after the read raise a new edge, and Asio tries
// the next receive again when epoll reports it; a FIN that came before the read and was
// reported shows in those events. The mark is set inside the read, under the descriptor's
// lock, as Asio sets its own.
//
// EPOLLRDHUP is registered for the sockets the router opens and accepts, from their
// EPOLL_CTL_ADD (assign_watched below); on a socket Asio registered itself,
// receive_drained behaves as async_receive.
//
// This reaches into Asio 1.81's epoll reactor (its per-descriptor state and operation
// types); the static_asserts in drained_receive.cpp stop a build against another Boost.
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <tuple>

namespace got {

// Whether epoll reports a socket's writable edges from its registration (a connect's
// completion is one: a backend socket) or only once something waits for room (a client
// socket: Asio's first wait for writable adds EPOLLOUT with one epoll_ctl(MOD) and keeps
// it). Every ACK of bytes sent raises a writable edge; on a socket nothing writes to
// without room, each is a report, and a wake-up of the loop, with nothing to do. nginx
// registers the sockets it accepts without EPOLLOUT and those it connects with it.
enum class writable_edges : bool
{
    when_waited,
    from_registration,
};

// Gives the closed socket `s` the descriptor `fd` (non-blocking, referred to by nothing
// else; closed on failure) as socket.assign would, but registered with epoll for
// peer-close events (EPOLLRDHUP) from the start, and for writable ones as `w` says: one
// EPOLL_CTL_ADD and no epoll_ctl(MOD) later, neither for a backend connect's wait for
// writable nor for the peer-close watch. A short read drains the socket from the first.
// Asio's state says the descriptor is non-blocking and no dup (fresh_socket.hpp).
void assign_watched(tcp_socket& s, net::ip::tcp protocol, int fd, writable_edges w,
                    boost::system::error_code& ec);

// For a socket whose peer has not been asked anything yet (a backend just sent its first
// bytes): unless epoll's last report for `s` said there was something to read, the next
// receive waits for epoll without trying a read first.
void expect_quiet(tcp_socket& s);

// One recv(2) on `s`, outside Asio: for a read whose bytes are most likely there already
// (a client's first bytes after the accept), it costs no operation, no initiation frame,
// no posted completion and no turn of the loop. `would_block`: nothing to read, and
// Asio's next receive on `s` waits for epoll without trying a read first (this was that
// try: anything that comes after it raises an edge still to be reported). A read of 0
// bytes is `net::error::eof`, as Asio reports it; `buf` must not be empty.
struct receive_now_result
{
    boost::system::error_code ec;
    std::size_t n = 0;
    bool would_block = false;
};
receive_now_result receive_now(tcp_socket& s, net::mutable_buffer buf);

// Waits until epoll reports `s` readable or writable, then calls `done(ctx, ec)` from the
// socket's event loop (never inside this call); `ec` is operation_aborted when `s` is
// closed first. Only for a caller whose read or write on `s` just said EAGAIN: epoll is
// edge-triggered, and without Asio's re-registration an edge reported before that
// EAGAIN is not reported again (a wait on a socket that is ready already would wait for
// the next change). In return it costs no epoll_ctl(MOD), where async_wait makes one each
// time (EPOLLOUT is added once, on the first wait for writable). Only on an event loop
// run by one thread.
enum class ready_for
{
    read,
    write,
};
using wait_done = void (*)(void* ctx, boost::system::error_code const& ec);
void wait_ready(tcp_socket& s, ready_for what, wait_done done, void* ctx);

// After a read on `s` outside Asio that got fewer bytes than it asked for: under
// receive_drained's rule (a watched socket, no FIN reported), Asio's next receive on `s`
// waits for epoll without trying a read first, and so does wait_readable.
void note_short_read(tcp_socket& s);
// After a read (write) on `s` outside Asio said EAGAIN: Asio's next speculative operation
// of that kind on `s` waits for epoll instead of trying first, until epoll reports the
// socket again (which undoes the note).
void note_would_block(tcp_socket& s, ready_for what);

// Waits for `s` to be readable (writable) as Asio waits for a receive (send) that found
// nothing: at once when epoll has reported the socket since note_would_block (or without
// that note), else at its next report; `ec` as async_wait gives it. No epoll_ctl, where
// socket.async_wait makes an epoll_ctl(MOD) for every wait. For a coroutine whose read
// (write) outside Asio just said EAGAIN and noted it, even with turns of the loop between
// the note and the wait (a report meanwhile completes the wait at once).
awaitable<std::tuple<boost::system::error_code>> wait_noted(tcp_socket& s, ready_for what);

// A wait for `s` to be readable as socket.async_wait(wait_read) makes it (one
// epoll_ctl(MOD) re-arms the socket, so bytes that came before the call count; none when
// a read since epoll's last report for `s` drained it (receive_drained's short read, one
// told by note_short_read) or found it empty (receive_now's would_block, one told by
// note_would_block): bytes since then raise an edge still to be reported), for a
// caller that is no coroutine and whose `ctx` owns what the wait keeps alive:
// `cb.done(ctx, ec)` runs from the socket's event loop (never inside this call); if that
// loop is destroyed with the wait pending, `cb.discard(ctx)` runs instead, so nothing
// leaks. Its operation holds the loop's executor and two pointers (`cb` lives for the
// program: a constant), allocated at its own size: 104 bytes where async_wait's holds two
// polymorphic executor copies in 200. For waits that last (a TLS connection idle before
// its request). `s` must be an io_context's socket.
using wait_discard = void (*)(void* ctx) noexcept;
struct wait_callbacks
{
    wait_done done;
    wait_discard discard;
};
void wait_readable(tcp_socket& s, wait_callbacks const& cb, void* ctx);

// A listening socket's wait for the next connection, after accept4 said EAGAIN: as
// wait_ready (no epoll_ctl(MOD): tcp::acceptor::async_wait makes one per wait, so one
// per connection when they come one at a time), with `cb` and `ctx` as wait_readable.
void wait_acceptable(net::ip::tcp::acceptor& a, wait_callbacks const& cb, void* ctx);

bool peer_close_watched(tcp_socket& s);

// Whether the next receive on `s` tries a read before it waits (for the tests).
bool receive_tries_first(tcp_socket& s);

// async_receive into `buf` (not empty), but a short read marks `s` drained as above.
awaitable<std::tuple<boost::system::error_code, std::size_t>>
receive_drained(tcp_socket& s, net::mutable_buffer buf);

// The same for a caller that is not a coroutine: `done(ctx, ec, n)` is called as the
// completion handler, from the socket's event loop and never inside this call.
using receive_done = void (*)(void* ctx, boost::system::error_code const& ec, std::size_t n);
void receive_drained(tcp_socket& s, net::mutable_buffer buf, receive_done done, void* ctx);

} // namespace got
