#include "drained_receive.hpp"

#include "exact_allocator.hpp"

#include <atomic>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/io_object_impl.hpp>
#include <boost/asio/detail/reactive_socket_service.hpp>
#include <boost/asio/detail/reactive_socket_service_base.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/version.hpp>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <sys/epoll.h>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace got {

static_assert(
    BOOST_VERSION / 100 == 1081,
    "drained_receive.cpp uses Asio 1.81's epoll reactor state and reactor_op; check "
    "epoll_reactor::descriptor_state, start_op and reactive_socket_recv_op for this Boost");

namespace {

namespace detail = net::detail;
using reactor = detail::epoll_reactor;
static_assert(std::is_same_v<detail::reactor, reactor>, "Asio must use its epoll reactor");
using descriptor_state = reactor::descriptor_state;
using socket_impl = detail::reactive_socket_service_base::base_implementation_type;
using acceptor = net::ip::tcp::acceptor;

// Members Asio keeps private. An explicit instantiation may name them (access is not
// checked there); the friend function it defines hands out the member pointer.
template <class Tag, typename Tag::type Member>
struct grant
{
    friend typename Tag::type member_of(Tag) { return Member; }
};
struct registered_events_of
{
    using type = std::uint32_t descriptor_state::*;
    friend type member_of(registered_events_of);
};
struct descriptor_mutex_of
{
    using type = detail::conditionally_enabled_mutex descriptor_state::*;
    friend type member_of(descriptor_mutex_of);
};
struct epoll_fd_of
{
    using type = int reactor::*;
    friend type member_of(epoll_fd_of);
};
struct try_speculative_of
{
    using type = bool (descriptor_state::*)[reactor::max_ops];
    friend type member_of(try_speculative_of);
};
template struct grant<try_speculative_of, &descriptor_state::try_speculative_>;
template struct grant<registered_events_of, &descriptor_state::registered_events_>;
template struct grant<descriptor_mutex_of, &descriptor_state::mutex_>;
template struct grant<epoll_fd_of, &reactor::epoll_fd_>;

struct descriptor_reactor_of
{
    using type = reactor* descriptor_state::*;
    friend type member_of(descriptor_reactor_of);
};
template struct grant<descriptor_reactor_of, &descriptor_state::reactor_>;
struct descriptor_fd_of
{
    using type = int descriptor_state::*;
    friend type member_of(descriptor_fd_of);
};
template struct grant<descriptor_fd_of, &descriptor_state::descriptor_>;
struct descriptor_shutdown_of
{
    using type = bool descriptor_state::*;
    friend type member_of(descriptor_shutdown_of);
};
template struct grant<descriptor_shutdown_of, &descriptor_state::shutdown_>;
struct allocate_state_of
{
    using type = descriptor_state* (reactor::*)();
    friend type member_of(allocate_state_of);
};
template struct grant<allocate_state_of, &reactor::allocate_descriptor_state>;
struct free_state_of
{
    using type = void (reactor::*)(descriptor_state*);
    friend type member_of(free_state_of);
};
template struct grant<free_state_of, &reactor::free_descriptor_state>;
struct acceptor_impl_of
{
    using type = detail::io_object_impl<detail::reactive_socket_service<net::ip::tcp>,
                                        acceptor::executor_type>
        acceptor::*;
    friend type member_of(acceptor_impl_of);
};
template struct grant<acceptor_impl_of, &acceptor::impl_>;

// The reactor of an io_context, remembered per thread: use_service looks it up under the
// service registry's lock, which would cost each new socket some 350 instructions (a
// plaintext connection's are about 11.5 k). A context's destruction destroys its
// reactor_ref first, which makes every thread look again.
std::atomic<unsigned> reactor_refs_destroyed{0};

class reactor_ref : public net::execution_context::service
{
public:
    using key_type = reactor_ref;
    static inline net::execution_context::id id;

    explicit reactor_ref(net::execution_context& ctx)
        : service(ctx)
        , reactor_(net::use_service<reactor>(ctx)) // made before this: destroyed after
    {}
    ~reactor_ref() override { reactor_refs_destroyed.fetch_add(1, std::memory_order_release); }
    reactor& get() const noexcept { return reactor_; }

private:
    void shutdown() override {}
    reactor& reactor_;
};

struct remembered_reactor
{
    net::execution_context* ctx = nullptr;
    reactor* r = nullptr;
    unsigned epoch = 0;
};
thread_local remembered_reactor remembered;

reactor& loop_reactor(net::execution_context& ctx)
{
    auto const epoch = reactor_refs_destroyed.load(std::memory_order_acquire);
    if (remembered.ctx != &ctx || remembered.epoch != epoch)
        remembered = {&ctx, &net::use_service<reactor_ref>(ctx).get(), epoch};
    return *remembered.r;
}

// Protected members, reached through a pointer formed in a derived class.
struct socket_access : tcp_socket
{
    // reactive_socket_service<tcp>'s implementation: socket_impl and the protocol.
    static auto& impl(tcp_socket& s) { return (s.*&socket_access::impl_).get_implementation(); }
};

// The reactor of the loop that `s` (a socket or an acceptor) belongs to.
template <class Socket>
reactor& reactor_of(Socket& s, socket_impl const& impl)
{
    if (impl.reactor_data_)
        return *(impl.reactor_data_->*member_of(descriptor_reactor_of{}));
    return net::use_service<reactor>(net::query(s.get_executor(), net::execution::context));
}
struct operation_access : detail::scheduler_operation
{
    // What epoll reported for the descriptor when the reactor last queued it:
    // epoll_reactor::run keeps it in the descriptor state's task_result_ (a private base).
    static unsigned last_events(descriptor_state const* d)
    {
        auto const* op = (detail::scheduler_operation const*)d; // NOLINT: a private base
        return op->*&operation_access::task_result_;
    }
    static void forget_events(descriptor_state* d)
    {
        auto* op = (detail::scheduler_operation*)d; // NOLINT: a private base
        op->*& operation_access::task_result_ = 0;
    }
};

// Asio never registers EPOLLRDHUP itself: a socket with it is one assign_watched registered.
constexpr std::uint32_t watched = EPOLLRDHUP;
constexpr std::uint32_t readable_events = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;

// Under the descriptor's lock (Asio calls perform() so).
bool fin_unseen(descriptor_state const* d)
{
    if ((d->*member_of(registered_events_of{}) & watched) != watched)
        return false; // the kernel may not have EPOLLRDHUP: no edge would tell of a FIN
    return (operation_access::last_events(d) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0;
}

class drained_recv_op_base : public detail::reactor_op
{
public:
    drained_recv_op_base(int fd, descriptor_state* d, net::mutable_buffer buf, func_type complete)
        : reactor_op(boost::system::error_code(), &drained_recv_op_base::do_perform, complete)
        , fd_(fd)
        , state_(d)
        , buf_(buf)
    {}

    template <class Handler>
    auto bind(Handler& h) const
    {
        return detail::binder2<Handler, boost::system::error_code, std::size_t>(h, ec_,
                                                                                bytes_transferred_);
    }

    static status do_perform(reactor_op* base)
    {
        auto* o = static_cast<drained_recv_op_base*>(base);
        if (!detail::socket_ops::non_blocking_recv1(o->fd_, o->buf_.data(), o->buf_.size(), 0, true,
                                                    o->ec_, o->bytes_transferred_))
            return not_done;
        if (o->bytes_transferred_ == 0) // EOF or an error: Asio's own rule
            return done_and_exhausted;
        if (o->bytes_transferred_ < o->buf_.size() && fin_unseen(o->state_))
            return done_and_exhausted;
        return done;
    }

private:
    int fd_;
    descriptor_state* state_;
    net::mutable_buffer buf_;
};

// An operation of `Base` (its perform and its results) with a handler: Asio's completion
// of a reactor operation, as reactive_socket_recv_op's. `Base::bind` gives the handler
// with the results as arguments.
template <class Base, class Handler, class IoExecutor>
class completing_op : public Base
{
public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(completing_op);

    template <class... Args>
    completing_op(Handler& handler, IoExecutor const& io_ex, Args&&... args)
        : Base(std::forward<Args>(args)..., &completing_op::do_complete)
        , handler_(std::move(handler))
        , work_(handler_, io_ex)
    {}

    static void do_complete(void* owner, detail::operation* base,
                            boost::system::error_code const& /*ec*/, std::size_t /*n*/)
    {
        auto* o = static_cast<completing_op*>(base);
        ptr p = {std::addressof(o->handler_), o, o};
        detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
        // The handler is copied out so that the operation's memory is freed before the
        // upcall (it may come from the handler's own allocator).
        auto handler = o->bind(o->handler_);
        p.h = std::addressof(handler.handler_);
        p.reset();
        if (owner) {
            detail::fenced_block b(detail::fenced_block::half);
            w.complete(handler, handler.handler_);
        }
    }

private:
    Handler handler_;
    detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation, as Asio's reactor_op_cancellation.
class cancel_receive
{
public:
    cancel_receive(reactor* r, reactor::per_descriptor_data* d, int fd, int kind = reactor::read_op)
        : reactor_(r)
        , data_(d)
        , fd_(fd)
        , kind_(kind)
    {}
    void operator()(net::cancellation_type_t type)
    {
        if (!!(type & (net::cancellation_type::terminal | net::cancellation_type::partial |
                       net::cancellation_type::total)))
            reactor_->cancel_ops_by_key(fd_, *data_, kind_, this);
    }

private:
    reactor* reactor_;
    reactor::per_descriptor_data* data_;
    int fd_;
    int kind_;
};

struct initiate_drained_receive
{
    tcp_socket& s;

    template <class Handler>
    void operator()(Handler&& handler, net::mutable_buffer buf) const
    {
        using handler_type = std::decay_t<Handler>;
        using io_executor = tcp_socket::executor_type;
        using op = completing_op<drained_recv_op_base, handler_type, io_executor>;
        auto& impl = socket_access::impl(s);
        auto& r = reactor_of(s, impl);
        bool const is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
        auto slot = net::get_associated_cancellation_slot(handler);

        typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
        p.p = new (p.v) op(handler, s.get_executor(), impl.socket_, impl.reactor_data_, buf);
        if (slot.is_connected())
            p.p->cancellation_key_ =
                &slot.template emplace<cancel_receive>(&r, &impl.reactor_data_, impl.socket_);
        // As reactive_socket_service_base::start_op.
        if ((impl.state_ & detail::socket_ops::non_blocking) ||
            detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true,
                                                          p.p->ec_))
            r.start_op(reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                       true);
        else
            r.post_immediate_completion(p.p, is_continuation);
        p.v = p.p = nullptr;
    }
};

// A wait for a socket to be ready, started as Asio starts a receive (speculatively), not
// as it starts async_wait: Asio makes an epoll_ctl(MOD) for every async_wait, even with
// the events already registered, where a speculative start only adds EPOLLOUT once. The
// speculative try says "not ready" (the caller's last read or write just said EAGAIN);
// every later try, on an epoll report for the socket, says ready.
class ready_wait_op_base : public detail::reactor_op
{
public:
    explicit ready_wait_op_base(func_type complete)
        : reactor_op(boost::system::error_code(), &ready_wait_op_base::do_perform, complete)
    {}

    bool starting = true; // inside start_op: the speculative try

    template <class Handler>
    auto bind(Handler& h) const
    {
        return detail::binder1<Handler, boost::system::error_code>(h, ec_);
    }

    static status do_perform(reactor_op* base)
    {
        return static_cast<ready_wait_op_base*>(base)->starting ? not_done : done;
    }
};

struct wait_callback
{
    wait_done done;
    void* ctx;
    void operator()(boost::system::error_code const& ec) const { done(ctx, ec); }
};

// wait_readable's handler: owns `ctx` until it is called, discards it if never called.
class owning_wait_callback
{
public:
    using allocator_type = exact_allocator<void>; // the operation at its own size

    owning_wait_callback(wait_callbacks const& cb, void* ctx) noexcept
        : cb_(&cb)
        , ctx_(ctx)
    {}
    owning_wait_callback(owning_wait_callback&& o) noexcept
        : cb_(o.cb_)
        , ctx_(std::exchange(o.ctx_, nullptr))
    {}
    owning_wait_callback& operator=(owning_wait_callback&&) = delete;
    ~owning_wait_callback()
    {
        if (ctx_)
            cb_->discard(ctx_);
    }

    allocator_type get_allocator() const noexcept { return {}; }
    void operator()(boost::system::error_code const& ec)
    {
        cb_->done(std::exchange(ctx_, nullptr), ec);
    }

private:
    wait_callbacks const* cb_;
    void* ctx_;
};

} // namespace

void wait_readable(tcp_socket& s, wait_callbacks const& cb, void* ctx)
{
    using io_executor = tcp_socket::executor_type;
    using op = completing_op<ready_wait_op_base, owning_wait_callback, io_executor>;
    owning_wait_callback handler{cb, ctx};
    auto& impl = socket_access::impl(s);
    auto& r = reactor_of(s, impl);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(handler, s.get_executor());
    p.p->starting = false; // never tried before the wait: epoll's report completes it
    // A socket a read drained (or found empty) since epoll's last report for it: any
    // byte that came since raised an edge still to be reported, so the wait starts as
    // Asio starts a receive that will not try first, with no epoll_ctl. Otherwise as
    // reactive_socket_service_base::async_wait: not speculative, so the reactor
    // re-registers the socket and a readable one is reported at once.
    bool const drained = !receive_tries_first(s);
    r.start_op(reactor::read_op, impl.socket_, impl.reactor_data_, p.p, false, drained);
    p.v = p.p = nullptr;
}

namespace {

// wait_ready and wait_acceptable: a ready wait on a socket or an acceptor, started
// speculatively (no re-registration) with the try inside saying "not ready".
template <class Handler, class Socket>
void start_ready_wait(Socket& s, socket_impl& impl, int kind, Handler& handler)
{
    using op = completing_op<ready_wait_op_base, Handler, typename Socket::executor_type>;
    auto& r = reactor_of(s, impl);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(handler, s.get_executor());
    auto* started = p.p;
    r.start_op(kind, impl.socket_, impl.reactor_data_, p.p, false, true);
    p.v = p.p = nullptr;
    // Queued (or its completion posted, for a closed socket): nothing runs it before this
    // loop's next turn, so the operation is still there.
    started->starting = false;
}

} // namespace

void wait_acceptable(net::ip::tcp::acceptor& a, wait_callbacks const& cb, void* ctx)
{
    owning_wait_callback handler{cb, ctx};
    start_ready_wait(a, (a.*member_of(acceptor_impl_of{})).get_implementation(), reactor::read_op,
                     handler);
}

void wait_ready(tcp_socket& s, ready_for what, wait_done done, void* ctx)
{
    wait_callback handler{done, ctx};
    start_ready_wait(s, socket_access::impl(s),
                     what == ready_for::read ? reactor::read_op : reactor::write_op, handler);
}

void assign_watched(tcp_socket& s, net::ip::tcp protocol, int fd, writable_edges w,
                    boost::system::error_code& ec)
{
    auto& impl = socket_access::impl(s);
    if (impl.socket_ != detail::invalid_socket) {
        ::close(fd);
        ec = net::error::already_open;
        return;
    }
    // As epoll_reactor::register_descriptor, with the events nginx registers.
    reactor& r = loop_reactor(s.get_executor().context());
    descriptor_state* d = (r.*member_of(allocate_state_of{}))();
    {
        detail::conditionally_enabled_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_of{}));
        d->*member_of(descriptor_reactor_of{}) = &r;
        d->*member_of(descriptor_fd_of{}) = fd;
        d->*member_of(descriptor_shutdown_of{}) = false;
        for (bool& t : d->*member_of(try_speculative_of{}))
            t = true;
        operation_access::forget_events(d); // the state may have been another socket's
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET | EPOLLRDHUP;
    if (w == writable_edges::from_registration)
        ev.events |= EPOLLOUT;
    d->*member_of(registered_events_of{}) = ev.events;
    ev.data.ptr = d;
    if (::epoll_ctl(r.*member_of(epoll_fd_of{}), EPOLL_CTL_ADD, fd, &ev) != 0) {
        ec.assign(errno, boost::system::system_category());
        (r.*member_of(free_state_of{}))(d);
        ::close(fd);
        return;
    }
    // As reactive_socket_service::assign, but non-blocking already (set by accept4 or
    // socket(2), so no ioctl before the first wait) and no dup (no EPOLL_CTL_DEL before
    // the close).
    impl.socket_ = fd;
    impl.state_ = static_cast<detail::socket_ops::state_type>(
        detail::socket_ops::stream_oriented | detail::socket_ops::internal_non_blocking);
    impl.reactor_data_ = d;
    impl.protocol_ = protocol;
    ec = {};
}

namespace {

// Clears Asio's "try before waiting" flag of `kind` for `s`, under the descriptor's lock,
// when `clear(d)` says so; nothing for a socket the reactor does not know.
template <class Condition>
void stop_trying(tcp_socket& s, int kind, Condition clear)
{
    descriptor_state* d = socket_access::impl(s).reactor_data_;
    if (!d)
        return;
    detail::conditionally_enabled_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_of{}));
    if (clear(static_cast<descriptor_state const*>(d)))
        (d->*member_of(try_speculative_of{}))[kind] = false;
}

bool registered(descriptor_state const* d)
{
    return d->*member_of(registered_events_of{}) != 0;
}

} // namespace

void expect_quiet(tcp_socket& s)
{
    // epoll reports a socket's state as it is when reported, not what changed: if its
    // last report had nothing to read, anything that came since has raised an edge that
    // is still to be reported.
    stop_trying(s, reactor::read_op, [](descriptor_state const* d) {
        return registered(d) && (operation_access::last_events(d) & readable_events) == 0;
    });
}

void note_short_read(tcp_socket& s)
{
    stop_trying(s, reactor::read_op, fin_unseen);
}

receive_now_result receive_now(tcp_socket& s, net::mutable_buffer buf)
{
    receive_now_result r;
    auto const n = ::recv(s.native_handle(), buf.data(), buf.size(), 0);
    if (n > 0) {
        r.n = static_cast<std::size_t>(n);
        return r;
    }
    if (n == 0) {
        r.ec = net::error::eof;
        return r;
    }
    if (errno == EINTR) {
        r.would_block = true; // Asio's receive tries again
        return r;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        r.ec = boost::system::error_code(errno, boost::system::system_category());
        return r;
    }
    r.would_block = true;
    note_would_block(s, ready_for::read);
    return r;
}

bool peer_close_watched(tcp_socket& s)
{
    descriptor_state* d = socket_access::impl(s).reactor_data_;
    if (!d)
        return false;
    detail::conditionally_enabled_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_of{}));
    return (d->*member_of(registered_events_of{}) & watched) == watched;
}

bool receive_tries_first(tcp_socket& s)
{
    descriptor_state* d = socket_access::impl(s).reactor_data_;
    if (!d)
        return true;
    detail::conditionally_enabled_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_of{}));
    return (d->*member_of(try_speculative_of{}))[reactor::read_op];
}

namespace {

// A function and its argument as a completion handler: the operation is allocated
// through Asio's per-thread recycling allocator, as for any handler without one of its own.
struct callback_handler
{
    receive_done done;
    void* ctx;
    void operator()(boost::system::error_code const& ec, std::size_t n) const { done(ctx, ec, n); }
};

} // namespace

void receive_drained(tcp_socket& s, net::mutable_buffer buf, receive_done done, void* ctx)
{
    initiate_drained_receive{s}(callback_handler{done, ctx}, buf);
}

namespace {

struct initiate_noted_wait
{
    tcp_socket& s;

    template <class Handler>
    void operator()(Handler&& handler, ready_for what) const
    {
        using handler_type = std::decay_t<Handler>;
        using op = completing_op<ready_wait_op_base, handler_type, tcp_socket::executor_type>;
        auto& impl = socket_access::impl(s);
        auto& r = reactor_of(s, impl);
        bool const is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
        auto slot = net::get_associated_cancellation_slot(handler);
        int const kind = what == ready_for::read ? reactor::read_op : reactor::write_op;

        typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
        p.p = new (p.v) op(handler, s.get_executor());
        p.p->starting = false; // the speculative try completes it: a report since the note
        if (slot.is_connected())
            p.p->cancellation_key_ =
                &slot.template emplace<cancel_receive>(&r, &impl.reactor_data_, impl.socket_, kind);
        // Speculative, as Asio starts a receive or a send: no epoll_ctl (for writable,
        // Asio adds EPOLLOUT on the socket's first wait if it is not registered yet).
        r.start_op(kind, impl.socket_, impl.reactor_data_, p.p, is_continuation, true);
        p.v = p.p = nullptr;
    }
};

} // namespace

void note_would_block(tcp_socket& s, ready_for what)
{
    stop_trying(s, what == ready_for::read ? reactor::read_op : reactor::write_op, registered);
}

awaitable<std::tuple<boost::system::error_code>> wait_noted(tcp_socket& s, ready_for what)
{
    return net::async_initiate<decltype(use_nothrow) const, void(boost::system::error_code)>(
        initiate_noted_wait{s}, use_nothrow, what);
}

awaitable<std::tuple<boost::system::error_code, std::size_t>>
receive_drained(tcp_socket& s, net::mutable_buffer buf)
{
    return net::async_initiate<decltype(use_nothrow) const,
                               void(boost::system::error_code, std::size_t)>(
        initiate_drained_receive{s}, use_nothrow, buf);
}

} // namespace got
