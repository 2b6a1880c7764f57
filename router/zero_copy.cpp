#include "zero_copy.hpp"

#include "drained_receive.hpp"

#include <array>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <optional>
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
    tcp_socket& from;
    tcp_socket& to;
    bool to_client;
    splice_state& st;
    connection_clock& clk;
    tcp_socket& client;
    tcp_socket& backend;
    bulk_path bulk;

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
            to.shutdown(tcp_socket::shutdown_send, ignored);
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

// Bytes read by a waiting receive; small, since the pump holds it for as long as the
// connection is quiet.
constexpr std::size_t wait_chunk = 4 * 1024;
using wait_array = std::array<char, wait_chunk>;

// A pump's wait buffer, from a stock kept per event-loop thread: with the pumps, in the
// splice's coroutine frame, two of them made the frame too large for Asio's frame cache
// (1,020 bytes at most), so every connection cost an aligned allocation and its free. At most
// max_kept spare buffers per thread (256 KiB); a buffer beyond that is freed.
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

// Passes on `n` bytes that arrived in `buf`: `sent::partly` leaves the rest (in `buf`,
// `n`) for a wait for room.
sent forward_now(pump_ends const& p, char const*& buf, std::size_t& n)
{
    p.clk.touch();
    p.counter() += n;
    return send_now(p, buf, n);
}

class pump_pair;

// One direction, driven by completion callbacks rather than a coroutine: through Asio, a
// coroutine costs a frame of its own and one more per awaited operation, the two
// directions a spawn and a timer to join them; here each wait is one reactor operation.
// First the copy phase (HAProxy's splice-auto rule): small transfers, such as a TLS
// handshake's messages or a Gopher menu, go through one buffer with recv/send, which
// costs the kernel less than socket -> pipe -> socket and needs no pipe; a read that
// fills the buffer hands the rest of the direction to the splice phase
// (bulk_path::splice), or the copying goes on with a turn of the loop for the others
// every reads_per_turn full reads (bulk_path::copy). Every path ends in finish(), once;
// nothing touches the pump after it.
class pump
{
public:
    pump(pump_ends const& p, pump_pair& pair)
        : p_(p)
        , pair_(pair)
    {}
    pump(pump const&) = delete;
    pump& operator=(pump const&) = delete;

    // Both directions start drained: the session has just read all the client had sent
    // (it sends no more before an answer), and the backend has only now been sent its
    // first bytes. Unless epoll has said since that there is more to read, the first
    // receive waits without trying a read first (expect_quiet).
    void start()
    {
        expect_quiet(p_.from);
        copy();
    }

private:
    // The copy phase from where it stands, until it waits or ends. After a short read
    // (the socket is drained) a receive waits in Asio's reactor (drained_receive.hpp:
    // no read that finds nothing, no epoll_ctl), unless Asio would try a read first
    // anyway (epoll has reported the peer's FIN, or bytes, since): that read is made
    // here, into the thread's scratch buffer, as after a full read. Through Asio its
    // result, most often the FIN, would come back as a posted completion: one more turn
    // of the loop, and an epoll_wait that finds nothing, before the FIN is passed on.
    void copy()
    {
        int full_reads = 0;
        for (;;) {
            if (drained_ && !receive_tries_first(p_.from)) {
                receive_drained(p_.from, net::buffer(held_.get()), &pump::on_received, this);
                return;
            }
            auto n = ::recv(p_.from.native_handle(), scratch.data(), scratch.size(), MSG_DONTWAIT);
            if (n == 0) {
                p_.eof();
                return finish();
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    p_.read_failed();
                    return finish();
                }
                // This was Asio's try: the receive waits for the next edge.
                note_would_block(p_.from, ready_for::read);
                drained_ = true;
                receive_drained(p_.from, net::buffer(held_.get()), &pump::on_received, this);
                return;
            }
            auto const got = static_cast<std::size_t>(n);
            bool const full = got == scratch.size();
            drained_ = !full; // a short read took all there was
            if (drained_)
                note_short_read(p_.from); // as receive_drained marks one (drained_receive.hpp)
            bool const to_splice = full && p_.bulk == bulk_path::splice;
            if (!forward(scratch.data(), got, to_splice))
                return;
            if (to_splice)
                return bulk();
            if (full && ++full_reads == reads_per_turn)
                return next_turn();
        }
    }

    // A bulk transfer that is copied gives the loop's other connections their turn after
    // reads_per_turn full reads: the rest is read when the loop comes back to it.
    void next_turn()
    {
        net::post(p_.from.get_executor(), [this] { copy(); });
    }

    static void on_received(void* self, boost::system::error_code const& ec, std::size_t n)
    {
        auto& me = *static_cast<pump*>(self);
        if (ec == net::error::eof) {
            me.p_.eof();
            return me.finish();
        }
        if (ec) {
            me.p_.read_failed(); // unless closed by the watchdog or the other direction
            return me.finish();
        }
        me.drained_ = n < me.held_.get().size();
        if (me.forward(me.held_.get().data(), n, false))
            me.copy();
    }

    // Sends what the socket takes now. False: the rest waits for room (copied out: the
    // scratch buffer is reused meanwhile), then goes on to the splice phase when
    // `then_bulk`, else the copy phase; or the pump has ended.
    bool forward(char const* data, std::size_t n, bool then_bulk)
    {
        auto r = forward_now(p_, data, n);
        if (r == sent::all)
            return true;
        if (r == sent::failed) {
            finish();
            return false;
        }
        rest_.assign(data, data + n);
        rest_sent_ = 0;
        bulk_after_rest_ = then_bulk;
        wait_for_room();
        return false;
    }

    void wait_for_room()
    {
        wait_ready(
            p_.to, ready_for::write,
            [](void* self, boost::system::error_code const& ec) {
                static_cast<pump*>(self)->on_room(ec);
            },
            this);
    }

    void on_room(boost::system::error_code const& ec)
    {
        if (ec)
            return finish(); // closed by the watchdog or the other direction's abort
        char const* data = rest_.data() + rest_sent_;
        std::size_t size = rest_.size() - rest_sent_;
        auto r = send_now(p_, data, size);
        if (r == sent::failed)
            return finish();
        if (r == sent::partly) {
            rest_sent_ = rest_.size() - size;
            return wait_for_room();
        }
        rest_.clear();
        if (bulk_after_rest_)
            return bulk();
        copy();
    }

    // The splice phase: socket -> pipe -> socket inside the kernel, for a bulk transfer.
    void bulk()
    {
        pipe_.emplace();
        if (!pipe_->ok()) {
            p_.fail(p_.to_client ? error::backend_reset : error::client_reset, false);
            return finish();
        }
        fill();
    }

    void fill()
    {
        for (;;) {
            ssize_t in = 0;
            auto r = move_bytes(p_.from.native_handle(), pipe_->write_end, chunk, in);
            if (r == step::would_block) {
                wait_ready(
                    p_.from, ready_for::read,
                    [](void* self, boost::system::error_code const& ec) {
                        auto* p = static_cast<pump*>(self);
                        if (ec)
                            return p->finish(); // closed by the watchdog or the other
                                                // direction's abort
                        p->fill();
                    },
                    this);
                return;
            }
            if (r == step::eof) {
                p_.eof();
                return finish();
            }
            if (r == step::failed) {
                p_.read_failed();
                return finish();
            }
            p_.clk.touch();
            p_.counter() += static_cast<std::uint64_t>(in);
            pipe_->empty = false;
            in_pipe_ = in;
            if (!drain())
                return;
        }
    }

    // Empties the pipe into the other socket before reading more: flow control. False:
    // waiting for room, or ended.
    bool drain()
    {
        while (in_pipe_ > 0) {
            ssize_t out = 0;
            auto w = move_bytes(pipe_->read_end, p_.to.native_handle(),
                                static_cast<std::size_t>(in_pipe_), out);
            if (w == step::moved) {
                in_pipe_ -= out;
                continue;
            }
            if (w == step::would_block) {
                wait_ready(
                    p_.to, ready_for::write,
                    [](void* self, boost::system::error_code const& ec) {
                        auto* p = static_cast<pump*>(self);
                        if (ec)
                            return p->finish();
                        if (p->drain())
                            p->fill();
                    },
                    this);
                return false;
            }
            p_.write_failed();
            finish();
            return false;
        }
        pipe_->empty = true;
        return true;
    }

    void finish();

    pump_ends p_;
    pump_pair& pair_;
    wait_buffer held_;
    bool drained_ = true;
    std::vector<char> rest_;
    std::size_t rest_sent_ = 0;
    bool bulk_after_rest_ = false;
    std::optional<pipe_pair> pipe_;
    ssize_t in_pipe_ = 0;
};

// Both directions, and the awaiting coroutine's handler, called when both have ended.
// Every pair of an event loop's thread is on that thread's list, for abandon_splices().
class pump_pair
{
public:
    using handler = net::async_result<net::use_awaitable_t<>, void()>::handler_type;

    pump_pair(tcp_socket& client, tcp_socket& backend, splice_state& st, connection_clock& clk,
              bulk_path bulk)
        : to_client_({backend, client, true, st, clk, client, backend, bulk}, *this)
        , to_backend_({client, backend, false, st, clk, client, backend, bulk}, *this)
    {
        next_ = live;
        if (next_)
            next_->prev_ = this;
        live = this;
    }
    pump_pair(pump_pair const&) = delete;
    pump_pair& operator=(pump_pair const&) = delete;
    ~pump_pair() { unlink(); }

    // The loop has stopped: the awaiting coroutine's handler goes (Asio posts the
    // coroutine's unwinding to the stopped loop, which destroys it with the loop). The
    // pair lives on until then; its pending waits are destroyed uninvoked.
    static void abandon_all() noexcept
    {
        while (live) {
            pump_pair* p = live;
            p->unlink();
            if (p->done_) {
                handler h = std::move(*p->done_);
                p->done_.reset();
            }
        }
    }

    void start(handler h)
    {
        done_.emplace(std::move(h));
        starting_ = true;
        to_client_.start();
        to_backend_.start();
        starting_ = false;
        if (running_ == 0)             // never so far (each starts with a wait), but not inside the
            net::post(take_handler()); // initiation of the wait for it: that would resume
                                       // the awaiting coroutine before it has suspended
    }

    // The last one resumes the awaiting coroutine, which destroys both pumps: the caller
    // returns at once.
    void one_done()
    {
        if (--running_ == 0 && !starting_)
            take_handler()();
    }

private:
    handler take_handler()
    {
        handler h = std::move(*done_);
        done_.reset();
        return h;
    }

    void unlink() noexcept
    {
        if (prev_)
            prev_->next_ = next_;
        else if (live == this)
            live = next_;
        if (next_)
            next_->prev_ = prev_;
        prev_ = next_ = nullptr;
    }

    static thread_local pump_pair* live;

    pump to_client_;
    pump to_backend_;
    std::optional<handler> done_;
    int running_ = 2;
    bool starting_ = false;
    pump_pair* prev_ = nullptr;
    pump_pair* next_ = nullptr;
};

thread_local pump_pair* pump_pair::live = nullptr;

void pump::finish()
{
    pipe_.reset(); // back to the thread's cache when empty
    (p_.to_client ? p_.st.backend_done : p_.st.client_done) = true;
    pair_.one_done();
}

} // namespace

void abandon_splices() noexcept
{
    pump_pair::abandon_all();
}

awaitable<void> splice(tcp_socket& client, tcp_socket& backend, splice_state& st,
                       connection_clock& clk, bulk_path bulk)
{
    // splice(2) blocks on a blocking socket whatever its flags: the descriptors must be
    // O_NONBLOCK. They are opened so (fresh_socket.hpp), and native_non_blocking() says
    // so without a system call; the ioctl is only for a socket that is not.
    boost::system::error_code ignored;
    for (tcp_socket* s : {&client, &backend})
        if (!s->native_non_blocking())
            s->native_non_blocking(true, ignored);
    pump_pair pumps(client, backend, st, clk, bulk);
    co_await net::async_initiate<net::use_awaitable_t<> const, void()>(
        [&pumps](pump_pair::handler h) { pumps.start(std::move(h)); }, net::use_awaitable);
}

} // namespace got
