#include "server.hpp"

#include "access_log.hpp"
#include "common/config_json.hpp"
#include "common/config_loader.hpp"
#include "common/log.hpp"
#include "drained_receive.hpp"
#include "fresh_socket.hpp"
#include "limits.hpp"
#include "listener_plan.hpp"
#include "ticket_keys.hpp"
#include "zero_copy.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstddef>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace got {

using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string describe(listener_config const& l)
{
    std::string modes;
    if (l.plaintext)
        modes = "plaintext";
    if (l.tls)
        modes += modes.empty() ? "tls" : ", tls";
    return modes;
}

bool is_fd_exhaustion(boost::system::error_code const& ec)
{
    return ec == boost::system::errc::too_many_files_open ||
           ec == boost::system::errc::too_many_files_open_in_system ||
           ec == boost::system::errc::not_enough_memory || ec == net::error::no_buffer_space;
}

// How many connections wait in a listener's accept queue: TCP_INFO's tcpi_unacked, which
// for a listening socket is the queue's length (what `ss -lt` shows as Recv-Q); -1 if
// the kernel does not say.
int queued_connections(int listener)
{
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
        length < offsetof(tcp_info, tcpi_unacked) + sizeof info.tcpi_unacked ||
        info.tcpi_state != TCP_LISTEN)
        return -1;
    return static_cast<int>(info.tcpi_unacked);
}

// Accepts one connection per turn of the event loop (the sessions already open get
// their turn between two accepts, as Asio's async_accept and nginx without
// multi_accept do), and waits on the listener when its queue is empty (wait_acceptable:
// no epoll_ctl per wait): accept4 with SOCK_NONBLOCK, as HAProxy and nginx accept, and
// each socket handed to Asio as fresh_socket.hpp says (no ioctl and no EPOLL_CTL_DEL per
// connection).
//
// The queue's length is asked for (queued_connections) instead of finding the end with
// an accept4 that fails: Linux allocates the new socket, its file and inode before it
// looks at the queue and frees them again when it is empty, ~4 µs against ~0.5 µs for
// the question (perf: 0.3-0.6 failing accept4 per passed-through connection at 20 to 100
// in flight). An edge that comes after the question is reported to the wait that follows
// (nothing runs the reactor in between).
//
// Driven by completion callbacks, not a coroutine: the turn between two accepts is one
// posted function (a coroutine's `co_await post` cost a frame for the initiation and a
// resumption each), and each socket is moved out of a blank one made once, which keeps
// Asio's socket service (constructing one from the executor looks the service up under
// the registry's lock). The acceptor's state is owned by whichever callback is pending;
// it ends when the acceptor is closed or the loop stops with a callback unrun.
class acceptor_loop
{
public:
    acceptor_loop(std::shared_ptr<listener_slot> slot, std::size_t loop_index, server const& srv,
                  session_counter& sessions)
        : slot_(std::move(slot))
        , acceptor_(*slot_->acceptors[loop_index])
        , srv_(srv)
        , sessions_(sessions)
        , blank_(loop_of(acceptor_.get_executor()))
        , backoff_(acceptor_.get_executor())
    {}

    static void start(std::unique_ptr<acceptor_loop> self)
    {
        boost::system::error_code ec;
        self->acceptor_.non_blocking(true, ec); // accept4 must not block
        if (ec) {
            log::error("accept on " + self->slot_->key + ": " + ec.message());
            return;
        }
        turn(std::move(self));
    }

private:
    enum class next
    {
        turn,     // the next accept after the loop's other work
        wait,     // for the listener to be readable
        back_off, // out of descriptors: 100 ms
        stop,
    };

    static void turn(std::unique_ptr<acceptor_loop> self)
    {
        next n = next::stop;
        try {
            n = self->accept_one();
        } catch (std::exception const& e) {
            // (a session that could not be made: that connection is lost, not the loop)
            log::error("accept on " + self->slot_->key + ": " + e.what());
            n = next::turn;
        }
        auto& acceptor = self->acceptor_;
        switch (n) {
        case next::turn: {
            auto ex = acceptor.get_executor();
            net::post(ex, [self = std::move(self)]() mutable { turn(std::move(self)); });
            break;
        }
        case next::wait:
            self->known_queued_ = 0;
            wait_acceptable(acceptor, on_acceptable(), self.release());
            break;
        case next::back_off: {
            auto& timer = self->backoff_;
            timer.expires_after(100ms);
            timer.async_wait([self = std::move(self)](boost::system::error_code) mutable {
                turn(std::move(self));
            });
            break;
        }
        case next::stop:
            break;
        }
    }

    // The wait owns the loop's state: given back to turn(), or freed with a loop that
    // is destroyed while it waits.
    static void acceptable(void* ctx, boost::system::error_code const& ec)
    {
        std::unique_ptr<acceptor_loop> self(static_cast<acceptor_loop*>(ctx));
        if (ec == net::error::operation_aborted || !self->acceptor_.is_open())
            return;
        turn(std::move(self)); // another error: accept4 reports it
    }
    static void discard(void* ctx) noexcept { delete static_cast<acceptor_loop*>(ctx); }
    static wait_callbacks const& on_acceptable()
    {
        static constexpr wait_callbacks callbacks{&acceptor_loop::acceptable,
                                                  &acceptor_loop::discard};
        return callbacks;
    }

    next accept_one()
    {
        if (!acceptor_.is_open())
            return next::stop;
        socklen_t length = static_cast<socklen_t>(peer_.capacity());
        int fd = ::accept4(acceptor_.native_handle(), peer_.data(), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        boost::system::error_code ec;
        if (fd < 0) {
            int const e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return next::wait; // (another process took the connection the count had)
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                return next::turn; // that connection is gone; the next one may be there
            ec.assign(e, boost::system::system_category());
        }
        tcp_socket socket(std::move(blank_));
        if (!ec) {
            peer_.resize(length);
            adopt_fresh(socket, peer_.protocol(), fd, ec);
        }
        if (ec) {
            if (!acceptor_.is_open())
                return next::stop;
            auto now = std::chrono::steady_clock::now();
            if (now - last_warning_ >= 1s) {
                log::warning("accept on " + slot_->key + ": " + ec.message());
                last_warning_ = now;
            }
            // Back off instead of spinning while descriptors are exhausted.
            return is_fd_exhaustion(ec) ? next::back_off : next::turn;
        }
        auto rt = srv_.snapshot();
        auto cap = rt->cfg->limits.max_connections;
        if (cap && sessions_.active.load(std::memory_order_relaxed) >= cap) {
            // Over the global cap: close at once (RST); open connections keep working.
            boost::system::error_code ignored;
            socket.set_option(net::socket_base::linger(true, 0), ignored);
            socket.close(ignored);
            count_outcome(error::over_limit);
            log_limit_hit(limit_kind::max_connections, "limits.max_connections (" +
                                                           std::to_string(cap) +
                                                           ") reached: refusing new connections");
            return after_accept();
        }
        sessions_.active.fetch_add(1, std::memory_order_relaxed);
        auto ex = socket.get_executor();
        net::co_spawn(
            ex,
            run_session(std::move(socket), peer_, slot_->context.load(), std::move(rt), sessions_),
            log::coroutine_ended);
        return after_accept();
    }

    // After a connection is taken: the next turn accepts again while the queue's length,
    // asked once, says one is there; then the length is asked again, and an empty queue
    // means a wait for the listener's next edge.
    next after_accept()
    {
        if (known_queued_ > 0) {
            --known_queued_;
            return next::turn;
        }
        int queued = queued_connections(acceptor_.native_handle());
        if (queued == 0)
            return next::wait;
        known_queued_ = queued > 0 ? queued - 1 : 0; // unknown: accept4 finds the end
        return next::turn;
    }

    std::shared_ptr<listener_slot> slot_;
    tcp::acceptor& acceptor_;
    server const& srv_;
    session_counter& sessions_;
    tcp_socket blank_; // closed; each accepted socket is moved out of it
    net::steady_timer backoff_;
    std::chrono::steady_clock::time_point last_warning_{};
    tcp::endpoint peer_;
    int known_queued_ = 0; // accepts still to make before the queue's length is asked again
};

// The files whose change means a reload: the config, every cert and key, and the CA,
// certificate and key files of TLS backends.
std::vector<std::string> watched_files(std::string const& config_path, config const& cfg)
{
    std::vector<std::string> files{config_path};
    for (auto const& c : cfg.certificates) {
        files.push_back(c.cert_file);
        files.push_back(c.key_file);
    }
    for (auto const& r : cfg.routes)
        for (auto const& b : r.backends)
            if (b.tls)
                for (auto const* f : {&b.tls->ca, &b.tls->cert, &b.tls->key})
                    if (!f->empty())
                        files.push_back(*f);
    return files;
}

} // namespace

void raise_fd_limit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        auto old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            log::info("raised the open-file limit from " + std::to_string(old) + " to " +
                      std::to_string(rl.rlim_cur));
            return;
        }
    }
    log::info("open-file limit is " + std::to_string(rl.rlim_cur));
}

server::server(std::string config_path, std::shared_ptr<runtime const> rt)
    : config_path_(std::move(config_path))
    , threads_(rt->cfg->threads ? rt->cfg->threads
                                : std::max(1u, std::thread::hardware_concurrency()))
    , control_(1)
    , snapshot_(std::move(rt))
    , signals_(control_)
    , ticket_timer_(control_)
    , watcher_(control_, [this] { reload("a watched file changed"); })
    , health_(control_)
{
    for (unsigned i = 0; i < threads_; ++i)
        loops_.push_back(std::make_unique<event_loop>());
}

server::~server()
{
    // Acceptors go while their loops still exist (every loop's thread has ended); then
    // the loops, which destroy the frames of sessions cut at the end of the grace period
    // (they touch sessions_). Accept-loop frames share the slots: destroy every acceptor
    // now, while all loops are alive, not when the last frame lets go of its slot during
    // a loop's teardown.
    for (auto& slot : listeners_) {
        slot->acceptors.clear();
        slot->bound.clear();
    }
    listeners_.clear();
    loops_.clear();
}

std::shared_ptr<listener_slot> server::open_listener(listener_config const& lc, std::string& error)
{
    auto slot = std::make_shared<listener_slot>();
    slot->key = lc.address.to_string();
    boost::system::error_code ec;
    auto address = net::ip::make_address(lc.address.host, ec);
    if (ec) {
        error = "cannot listen on " + slot->key + ": " + ec.message();
        return nullptr;
    }
    tcp::endpoint ep(address, lc.address.port);

    // systemd socket activation: use the inherited socket bound to this address.
    int inherited_fd = -1;
    for (auto const& s : inherited_)
        if (s.local == ep)
            inherited_fd = s.fd;

    slot->protocol = ep.protocol();
    for (unsigned i = 0; i < threads_; ++i) {
        auto acc = std::make_unique<tcp::acceptor>(control_);
        if (inherited_fd >= 0) {
            acc->assign(ep.protocol(), ::dup(inherited_fd), ec);
        } else {
            acc->open(ep.protocol(), ec);
            if (!ec)
                acc->set_option(net::socket_base::reuse_address(true), ec);
            if (!ec && threads_ > 1)
                acc->set_option(reuse_port(true), ec);
            if (!ec)
                acc->bind(ep, ec);
            if (!ec)
                acc->listen(net::socket_base::max_listen_connections, ec);
        }
        if (ec) {
            error = "cannot listen on " + slot->key + ": " + ec.message();
            return nullptr;
        }
        if (i == 0)
            ep = acc->local_endpoint(); // port 0: the other loops join the chosen port
        slot->bound.push_back(std::move(acc));
        slot->acceptors.emplace_back();
    }
    std::string name = endpoint_text(ep);
    slot->context.store(std::make_shared<listener_context const>(
        listener_context{lc, name, metrics::get().listener(name)}));
    log::info("listening on " + name + " (" + describe(lc) + ")" +
              (inherited_fd >= 0 ? " [socket from systemd]" : ""));
    return slot;
}

void server::start_accepting(std::shared_ptr<listener_slot> const& slot)
{
    for (std::size_t i = 0; i < slot->bound.size(); ++i) {
        // On loop i's thread: its acceptor takes the bound socket over (releasing it from
        // the control loop's reactor, which locks), and its accept loop starts.
        loops_[i]->mail.send([this, slot, i] {
            auto& io = loops_[i]->io;
            boost::system::error_code ec;
            auto acc = std::make_unique<tcp::acceptor>(io);
            int fd = slot->bound[i]->release(ec);
            if (!ec)
                acc->assign(slot->protocol, fd, ec);
            if (ec) {
                if (fd >= 0 && !acc->is_open())
                    ::close(fd);
                log::error("accept on " + slot->key + ": " + ec.message());
                return;
            }
            slot->acceptors[i] = std::move(acc);
            acceptor_loop::start(std::make_unique<acceptor_loop>(slot, i, *this, sessions_));
        });
    }
}

void server::close_listener(std::shared_ptr<listener_slot> const& slot)
{
    for (std::size_t i = 0; i < slot->acceptors.size(); ++i) {
        // Each acceptor belongs to one loop: close it there (sent after the message
        // that made it, so it runs after that one).
        loops_[i]->mail.send([slot, i] {
            boost::system::error_code ec;
            if (slot->acceptors[i])
                slot->acceptors[i]->close(ec);
        });
    }
}

bool server::open_admin(config const& cfg, std::string& error)
{
    if (admin_) {
        admin_->close();
        admin_.reset();
    }
    if (!cfg.admin.address)
        return true;
    admin_hooks hooks{
        [this] { return ready_.load() && !shutting_down_.load(); },
        [this] { return config_to_json(*snapshot()->cfg); },
    };
    admin_ = std::make_unique<admin_server>(control_, std::move(hooks));
    if (!admin_->open(*cfg.admin.address, error)) {
        admin_.reset();
        return false;
    }
    return true;
}

bool server::open(std::string& error)
{
    // Signals first: a SIGTERM as soon as `listening on` is logged must drain, not kill.
    for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1})
        signals_.add(sig);
    inherited_ = take_inherited_sockets();
    auto rt = snapshot();
    for (auto const& lc : rt->cfg->listeners) {
        auto slot = open_listener(lc, error);
        if (!slot)
            return false;
        listeners_.push_back(std::move(slot));
    }
    if (!open_admin(*rt->cfg, error))
        return false;
    apply_ticket_keys(*rt);
    rt->publish_metrics();
    for (auto const& slot : listeners_)
        metrics::get().listener(slot->context.load()->name);
    watch_files(*rt->cfg); // before `listening on` is acted upon: no change goes unseen

    if (!rt->cfg->user.empty()) {
        if (!drop_privileges(rt->cfg->user, rt->cfg->group, error)) {
            error = "cannot drop privileges: " + error + "; refusing to run as " +
                    (::geteuid() == 0 ? "root" : "this user");
            return false;
        }
        log::info("running as user " + rt->cfg->user +
                  (rt->cfg->group.empty() ? "" : ", group " + rt->cfg->group));
    }
    return true;
}

void server::watch_files(config const& cfg)
{
    watcher_.watch(watched_files(config_path_, cfg));
}

namespace {

void reload_failed(std::string const& what)
{
    metrics::get().reloads_failed.fetch_add(1, std::memory_order_relaxed);
    log::error("reload failed: " + what + "; still running the previous config");
}

} // namespace

void server::reload(std::string const& why)
{
    if (shutting_down_)
        return;
    auto started = std::chrono::steady_clock::now();

    auto loaded = load_config(config_path_);
    if (auto* problems = std::get_if<std::vector<config_problem>>(&loaded)) {
        for (auto const& p : *problems)
            log::error("reload: " + p.to_string());
        reload_failed(std::to_string(problems->size()) + " problem(s) in " + config_path_);
        return;
    }
    auto cfg = std::make_shared<config const>(std::move(std::get<config>(loaded)));
    // Host names are looked up off the loop; the newest reload wins if several overlap.
    auto generation = ++reload_generation_;
    async_resolve_backends(
        control_, cfg,
        [this, cfg, why, started, generation](backend_addresses addresses, std::string error) {
            if (shutting_down_)
                return;
            if (generation != reload_generation_) {
                log::info("reload (" + why + ") superseded by a newer one");
                return;
            }
            if (!error.empty())
                reload_failed(error);
            else
                apply_reload(cfg, addresses, why, started);
        });
}

void server::apply_reload(std::shared_ptr<config const> const& cfg,
                          backend_addresses const& addresses, std::string const& why,
                          std::chrono::steady_clock::time_point started)
{
    std::string error;
    auto rt = build_runtime(cfg, addresses, error);
    if (!rt) {
        reload_failed(error);
        return;
    }
    auto old = snapshot();

    // Listeners: keep the sockets of those that stay, open new ones before anything
    // changes (a failure here still changes nothing), and close the ones that went only
    // once the new config is in place.
    std::vector<std::string> open_keys;
    for (auto const& slot : listeners_)
        open_keys.push_back(slot->key);
    auto plan = plan_listeners(open_keys, cfg->listeners);
    std::vector<std::shared_ptr<listener_slot>> next, opened;
    for (std::size_t i = 0; i < plan.reuse.size(); ++i) {
        if (plan.reuse[i]) {
            next.push_back(listeners_[*plan.reuse[i]]);
            continue;
        }
        auto slot = open_listener(cfg->listeners[i], error);
        if (!slot) {
            reload_failed(error);
            return; // `opened` closes with its acceptors
        }
        opened.push_back(slot);
        next.push_back(slot);
    }
    if (cfg->admin.address != old->cfg->admin.address) {
        if (!open_admin(*cfg, error))
            log::error("reload: " + error + "; admin endpoint off");
        else if (admin_)
            admin_->start();
    }

    // The commit point: from here on the new snapshot is the process's.
    apply_ticket_keys(*rt);
    snapshot_.store(rt);
    rt->publish_metrics();
    health_.start(rt);
    for (std::size_t i = 0; i < next.size(); ++i) {
        auto const& name = next[i]->context.load()->name;
        next[i]->context.store(std::make_shared<listener_context const>(
            listener_context{cfg->listeners[i], name, metrics::get().listener(name)}));
    }
    for (auto const& slot : opened)
        start_accepting(slot);
    for (auto i : plan.close) {
        log::info("closing listener " + listeners_[i]->context.load()->name +
                  " (not in the config)");
        close_listener(listeners_[i]);
    }
    listeners_ = std::move(next);
    finish_reload(*cfg, why, started);
}

void server::finish_reload(config const& cfg, std::string const& why,
                           std::chrono::steady_clock::time_point started)
{
    if (cfg.threads && cfg.threads != threads_)
        log::warning("threads: " + std::to_string(cfg.threads) +
                     " takes effect at the next restart");
    log::set_level(cfg.logging.level);
    watch_files(cfg);

    auto& m = metrics::get();
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    m.reloads_ok.fetch_add(1, std::memory_order_relaxed);
    m.last_reload_seconds.store(took);
    m.last_reload_timestamp.store(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    log::info("config reloaded (" + why + "): " + std::to_string(cfg.routes.size()) +
              " route(s), " + std::to_string(cfg.certificates.size()) + " certificate(s), " +
              std::to_string(listeners_.size()) + " listener(s)");
}

void server::stop_loops()
{
    for (auto& loop : loops_)
        loop->mail.send([l = loop.get()] { l->io.stop(); });
}

void server::stop_all()
{
    health_.stop();
    stop_loops();
    control_.stop();
}

void server::finish_when_drained(std::chrono::steady_clock::time_point give_up)
{
    auto timer = std::make_shared<net::steady_timer>(control_);
    auto check = std::make_shared<std::function<void()>>();
    *check = [this, timer, give_up, check] {
        auto active = sessions_.active.load(std::memory_order_relaxed);
        if (active == 0) {
            log::info("all connections finished; exiting");
            stop_all();
            *check = nullptr; // breaks the self-reference: destroys this lambda, so last
            return;
        }
        if (std::chrono::steady_clock::now() >= give_up) {
            log::warning("shutdown grace over; closing " + std::to_string(active) +
                         " connection(s)");
            stop_all();
            *check = nullptr;
            return;
        }
        timer->expires_after(50ms);
        timer->async_wait([check](boost::system::error_code) {
            if (*check)
                (*check)();
        });
    };
    (*check)();
}

void server::begin_shutdown(int signal_number)
{
    if (signal_number == SIGQUIT || shutting_down_) {
        log::info("stopping now");
        stop_all();
        return;
    }
    shutting_down_ = true;
    auto grace = snapshot()->cfg->timeouts.shutdown_grace;
    log::info(std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
              ": no new connections; draining " +
              std::to_string(sessions_.active.load(std::memory_order_relaxed)) +
              " connection(s) for up to " + std::to_string(grace.count()) + " ms");
    for (auto const& slot : listeners_)
        close_listener(slot);
    // The admin endpoint stays up during the drain: /readyz answers 503.
    finish_when_drained(std::chrono::steady_clock::now() + grace);
}

void server::schedule_ticket_rotation()
{
    auto period = snapshot()->cfg->tls.ticket_rotation;
    ticket_timer_.expires_after(period);
    ticket_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return;
        if (!ticket_keyring::get().from_file()) {
            ticket_keyring::get().rotate();
            log::info("rotated the session-ticket key");
        }
        schedule_ticket_rotation();
    });
}

void server::wait_signals()
{
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
        if (ec)
            return;
        if (sig == SIGHUP)
            reload("SIGHUP");
        else if (sig == SIGUSR1)
            reopen_access_logs();
        else
            begin_shutdown(sig);
        wait_signals();
    });
}

int server::run()
{
    wait_signals();
    watcher_.start();
    if (admin_)
        admin_->start();
    for (auto const& slot : listeners_)
        start_accepting(slot);
    schedule_ticket_rotation();
    health_.start(snapshot());
    ready_ = true;
    log::info("got-router " GOT_VERSION " running with " + std::to_string(threads_) +
              " event loop(s)");

    std::vector<std::thread> workers;
    for (auto& loop : loops_) {
        workers.emplace_back([l = loop.get()] {
            auto guard = net::make_work_guard(l->io);
            l->io.run();
            abandon_splices(); // sessions cut by the end of the shutdown grace
        });
    }
    {
        auto guard = net::make_work_guard(control_);
        control_.run();
    }
    stop_loops();
    for (auto& w : workers)
        w.join();
    return 0;
}

} // namespace got
