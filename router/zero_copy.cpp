#include "zero_copy.hpp"

#include "drained_receive.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace got {

namespace {

constexpr std::size_t chunk = 64 * 1024;

// Empty pipes kept per event-loop thread for the next connection: making and closing a
// pair costs about a tenth of a whole plaintext connection (perf: ~18 µs of ~170 µs).
// Only pipes known to be empty go back; a pipe with bytes left in it is closed.
struct pipe_cache
{
    static constexpr std::size_t max_kept = 32;
    std::vector<std::array<int, 2>> kept;
    ~pipe_cache()
    {
        for (auto const& p : kept) {
            ::close(p[0]);
            ::close(p[1]);
        }
    }
};

thread_local pipe_cache cache;

struct pipe_pair
{
    int read_end = -1;
    int write_end = -1;
    bool empty = true; // nothing spliced in that has not been spliced out
    pipe_pair()
    {
        if (!cache.kept.empty()) {
            read_end = cache.kept.back()[0];
            write_end = cache.kept.back()[1];
            cache.kept.pop_back();
            return;
        }
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            read_end = fds[0];
            write_end = fds[1];
        }
    }
    pipe_pair(pipe_pair const&) = delete;
    ~pipe_pair()
    {
        if (!ok())
            return;
        if (empty && cache.kept.size() < pipe_cache::max_kept) {
            cache.kept.push_back({read_end, write_end});
            return;
        }
        ::close(read_end);
        ::close(write_end);
    }
    bool ok() const { return read_end >= 0; }
};

enum class step
{
    moved,
    eof,
    would_block,
    failed,
};

step move_bytes(int from, int to, std::size_t max, ssize_t& n)
{
    n = ::splice(from, nullptr, to, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0)
        return step::moved;
    if (n == 0)
        return step::eof;
    if (errno == EAGAIN || errno == EINTR)
        return step::would_block;
    return step::failed;
}

// The copy phase's read buffer, one per event-loop thread: bytes stay in it only between
// a recv and the send that follows with no wait in between; what a send leaves behind is
// copied out to the pump's own buffer before it waits.
constexpr std::size_t copy_chunk = 16 * 1024;
thread_local std::array<char, copy_chunk> scratch;

// One direction's ends, counter and failure rule.
struct pump_ends
{
    tcp::socket& from;
    tcp::socket& to;
    bool to_client;
    splice_state& st;
    connection_clock& clk;
    tcp::socket& client;
    tcp::socket& backend;

    std::uint64_t& counter() const { return to_client ? st.bytes_out : st.bytes_in; }
    void fail(error e, bool reset_client) const
    {
        if (st.outcome == error::ok) {
            st.outcome = e;
            abort_both(client, backend, reset_client);
        }
    }
    void read_failed() const
    {
        if (from.is_open())
            fail(to_client ? error::backend_reset : error::client_reset, to_client);
    }
    void write_failed() const
    {
        if (to.is_open())
            fail(to_client ? error::client_reset : error::backend_reset, !to_client);
    }
    // The sender's FIN: carried on unless the other way is done (then the close that
    // follows sends it, one system call less).
    void eof() const
    {
        clk.one_side_done();
        bool other_way_done = to_client ? st.client_done : st.backend_done;
        boost::system::error_code ignored;
        if (!other_way_done)
            to.shutdown(tcp::socket::shutdown_send, ignored);
    }
};

enum class sent
{
    all,
    failed, // already counted
    partly, // the socket is full: `data` and `size` say what is left
};

// Sends what the socket takes now, with no wait (and so no coroutine frame).
sent send_now(pump_ends const& p, char const*& data, std::size_t& size)
{
    for (;;) {
        auto n = ::send(p.to.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            size -= static_cast<std::size_t>(n);
            if (size == 0)
                return sent::all;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            p.write_failed();
            return sent::failed;
        }
        return sent::partly;
    }
}

// The rest of a send that found the socket full: copied out of the caller's buffer (the
// shared scratch buffer is reused while this waits), then sent as room comes. False: the
// write failed (already counted) or the socket was closed.
awaitable<bool> send_rest(pump_ends const& p, char const* data, std::size_t size)
{
    std::vector<char> rest(data, data + size);
    data = rest.data();
    for (;;) {
        auto [ec] = co_await p.to.async_wait(tcp::socket::wait_write, use_nothrow);
        if (ec)
            co_return false;
        auto r = send_now(p, data, size);
        if (r != sent::partly)
            co_return r == sent::all;
    }
}

// Bytes read by a waiting receive; small, since the pump holds it for as long as the
// connection is quiet.
constexpr std::size_t wait_chunk = 4 * 1024;
using wait_array = std::array<char, wait_chunk>;

// A pump's wait buffer, from a stock kept per event-loop thread: in the pump's frame, its
// 4 KiB made the frame too large for Asio's frame cache (1,020 bytes at most), so every
// pump cost an aligned allocation and its free. At most max_kept spare buffers per thread
// (256 KiB); a buffer beyond that is freed.
class wait_buffer
{
public:
    wait_buffer()
    {
        auto& kept = stock();
        if (kept.empty()) {
            buf_.reset(new wait_array); // not zeroed: only received bytes are read from it
            return;
        }
        buf_ = std::move(kept.back());
        kept.pop_back();
    }
    ~wait_buffer()
    {
        auto& kept = stock();
        if (kept.size() < max_kept)
            kept.push_back(std::move(buf_)); // within the reserved capacity: cannot throw
    }
    wait_buffer(wait_buffer const&) = delete;
    wait_buffer& operator=(wait_buffer const&) = delete;

    wait_array& get() noexcept { return *buf_; }

private:
    static constexpr std::size_t max_kept = 64;
    static std::vector<std::unique_ptr<wait_array>>& stock()
    {
        thread_local std::vector<std::unique_ptr<wait_array>> kept = [] {
            std::vector<std::unique_ptr<wait_array>> v;
            v.reserve(max_kept);
            return v;
        }();
        return kept;
    }

    std::unique_ptr<wait_array> buf_;
};

// One receive after the socket was found drained: Asio tries it at once unless the last
// short read marked the socket drained (drained_receive.hpp), and otherwise queues it on
// the descriptor, already registered edge-triggered, and performs it when bytes come.
// A try costs a read that may find nothing, where `async_wait` would cost an
// epoll_ctl(MOD) every time.
awaitable<std::tuple<boost::system::error_code, std::size_t>> receive_when_ready(tcp::socket& from,
                                                                                 wait_array& buf)
{
    return receive_drained(from, net::buffer(buf));
}

// Passes on `n` bytes that arrived in `buf`: `sent::partly` leaves the rest (in `buf`,
// `n`) to send_rest, the only part that needs a coroutine.
sent forward_now(pump_ends const& p, char const*& buf, std::size_t& n)
{
    p.clk.touch();
    p.counter() += n;
    return send_now(p, buf, n);
}

// The splice phase: socket -> pipe -> socket inside the kernel, for a bulk transfer.
awaitable<void> splice_bulk(pump_ends const& p)
{
    pipe_pair pipe;
    if (!pipe.ok()) {
        p.fail(p.to_client ? error::backend_reset : error::client_reset, false);
        co_return;
    }
    for (;;) {
        ssize_t in = 0;
        auto r = move_bytes(p.from.native_handle(), pipe.write_end, chunk, in);
        if (r == step::would_block) {
            auto [ec] = co_await p.from.async_wait(tcp::socket::wait_read, use_nothrow);
            if (ec)
                break; // closed by the watchdog or the other direction's abort
            continue;
        }
        if (r == step::eof) {
            p.eof();
            break;
        }
        if (r == step::failed) {
            p.read_failed();
            break;
        }
        p.clk.touch();
        p.counter() += static_cast<std::uint64_t>(in);
        pipe.empty = false;
        // Drain the pipe into the other socket before reading more: flow control.
        while (in > 0) {
            ssize_t out = 0;
            auto w =
                move_bytes(pipe.read_end, p.to.native_handle(), static_cast<std::size_t>(in), out);
            if (w == step::moved) {
                in -= out;
                continue;
            }
            if (w == step::would_block) {
                auto [ec] = co_await p.to.async_wait(tcp::socket::wait_write, use_nothrow);
                if (!ec)
                    continue;
            } else {
                p.write_failed();
            }
            co_return;
        }
        pipe.empty = true;
    }
}

// One direction. `to_client` says which way, for the half-close and abort rules. First
// the copy phase (HAProxy's splice-auto rule): small transfers, such as a TLS handshake's
// messages or a Gopher menu, go through one buffer with recv/send, which costs the kernel
// less than socket -> pipe -> socket and needs no pipe; a read that fills the buffer
// hands the rest of the direction to the splice phase. (One coroutine for both phases:
// a frame less per direction.)
awaitable<void> zero_copy_pump(tcp::socket& from, tcp::socket& to, bool to_client, splice_state& st,
                               connection_clock& clk, tcp::socket& client, tcp::socket& backend)
{
    pump_ends const p{from, to, to_client, st, clk, client, backend};
    struct mark_done
    {
        bool& done;
        ~mark_done() { done = true; }
    } marker{to_client ? st.backend_done : st.client_done};
    wait_buffer held;
    auto& waiting = held.get();
    // Both start drained: the session has just read all the client had sent (it sends
    // no more before an answer), and the backend has only now been sent its first bytes.
    // Unless epoll has said since that there is more to read, the first receive waits
    // without trying a read first (expect_quiet).
    bool drained = true;
    expect_quiet(p.from);
    for (;;) {
        if (drained) {
            auto [ec, n] = co_await receive_when_ready(p.from, waiting);
            if (ec == net::error::eof) {
                p.eof();
                co_return;
            }
            if (ec) {
                p.read_failed(); // unless closed by the watchdog or the other direction
                co_return;
            }
            drained = n < waiting.size();
            char const* data = waiting.data();
            auto r = forward_now(p, data, n);
            if (r == sent::failed)
                co_return;
            if (r == sent::partly && !co_await send_rest(p, data, n))
                co_return;
            continue;
        }
        auto n = ::recv(p.from.native_handle(), scratch.data(), scratch.size(), MSG_DONTWAIT);
        if (n == 0) {
            p.eof();
            co_return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                p.read_failed();
                co_return;
            }
            drained = true;
            continue;
        }
        auto const got = static_cast<std::size_t>(n);
        char const* data = scratch.data();
        std::size_t left = got;
        auto r = forward_now(p, data, left);
        if (r == sent::failed)
            co_return;
        if (r == sent::partly && !co_await send_rest(p, data, left))
            co_return;
        if (got == scratch.size()) {
            co_await splice_bulk(p);
            co_return;
        }
        drained = true; // a short read took all there was
    }
}

} // namespace

awaitable<void> splice(tcp::socket& client, tcp::socket& backend, splice_state& st,
                       connection_clock& clk)
{
    // splice(2) blocks on a blocking socket whatever its flags: the descriptors must be
    // O_NONBLOCK. They are opened so (fresh_socket.hpp), and native_non_blocking() says
    // so without a system call; the ioctl is only for a socket that is not. (Not a
    // coroutine: both()'s awaitable is the caller's to await.)
    boost::system::error_code ignored;
    for (tcp::socket* s : {&client, &backend})
        if (!s->native_non_blocking())
            s->native_non_blocking(true, ignored);
    return both(zero_copy_pump(backend, client, true, st, clk, client, backend),
                zero_copy_pump(client, backend, false, st, clk, client, backend));
}

} // namespace got
