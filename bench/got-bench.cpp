// got-bench: a load generator for Gopher over TLS and plaintext Gopher.
//
// The main thread parses the options, starts one event loop per --threads, spreads
// the workers over them, prints a progress line every second and the report at
// the end; it runs no I/O itself. The report says how much CPU got-bench used, so
// that a reader can see the load generator was not the bottleneck.
#include "bench_options.hpp"
#include "load.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <csignal>
#include <cstdio>
#include <deque>
#include <optional>
#include <sys/resource.h>
#include <thread>

namespace {

using namespace got::bench;
using namespace std::chrono_literals;

volatile std::sig_atomic_t signalled = 0;

extern "C" void on_signal(int)
{
    signalled = 1;
}

double cpu_seconds()
{
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](timeval const& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

void raise_fd_limit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

std::optional<tcp::endpoint> resolve(bench_options const& o)
{
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
        std::fprintf(stderr, "got-bench: cannot resolve %s: %s\n", o.host.c_str(),
                     ec ? ec.message().c_str() : "no address");
        return std::nullopt;
    }
    return results.begin()->endpoint();
}

struct totals
{
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    std::uint64_t held = 0;
};

totals current_totals(std::deque<load_thread> const& threads)
{
    totals t;
    for (auto const& lt : threads) {
        t.ok += lt.stats.ok.load(std::memory_order_relaxed);
        t.failed += lt.stats.failures();
        t.held += lt.stats.held.load(std::memory_order_relaxed);
    }
    return t;
}

double ms(std::uint64_t micros)
{
    return static_cast<double>(micros) / 1000.0;
}

struct run_result
{
    run_summary sum;
    double wall_s = 0;
    double cpu_s = 0;
};

void print_report(bench_options const& o, run_result const& r)
{
    auto const& s = r.sum;
    double wall = r.wall_s > 0 ? r.wall_s : 1e-9;
    std::printf("got-bench: %s %s:%u", o.tls ? "tls" : "plain", o.host.c_str(),
                static_cast<unsigned>(o.port));
    if (o.tls)
        std::printf(" sni=%s alpn=%s%s", o.sni.empty() ? "-" : o.sni.c_str(),
                    o.alpn.empty() ? "-" : o.alpn.c_str(), o.resume ? " resume" : "");
    std::printf(" selector=\"%s\" concurrency=%u threads=%u\n", o.selector.c_str(), o.concurrency,
                o.threads);
    if (o.hold) {
        std::printf("  held         %llu of %llu connections open at the end, %llu closed by the "
                    "server while held\n",
                    static_cast<unsigned long long>(s.held),
                    static_cast<unsigned long long>(*o.hold),
                    static_cast<unsigned long long>(s.closed_while_held));
    } else {
        std::printf("  requests     %llu ok, %llu failed, %.1f req/s over %.2f s\n",
                    static_cast<unsigned long long>(s.ok),
                    static_cast<unsigned long long>(s.failures()), static_cast<double>(s.ok) / wall,
                    wall);
    }
    if (o.tls)
        std::printf("  handshakes   %llu (%.1f/s), resumed %llu\n",
                    static_cast<unsigned long long>(s.handshakes),
                    static_cast<double>(s.handshakes) / wall,
                    static_cast<unsigned long long>(s.resumed));
    if (!o.hold)
        std::printf("  latency      p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                    ms(s.latency.percentile(0.50)), ms(s.latency.percentile(0.90)),
                    ms(s.latency.percentile(0.99)), ms(s.latency.max()));
    std::printf("  received     %llu bytes, %.2f MB/s\n", static_cast<unsigned long long>(s.bytes),
                static_cast<double>(s.bytes) / wall / 1e6);
    std::printf("  errors      ");
    for (std::size_t i = 0; i < failure_kinds; ++i)
        std::printf(" %s %llu%s", failure_name(static_cast<failure>(i)),
                    static_cast<unsigned long long>(s.failed[i]),
                    i + 1 < failure_kinds ? "," : "\n");
    for (std::size_t i = 0; i < failure_kinds; ++i)
        if (s.failed[i])
            std::printf("    %s: e.g. %s\n", failure_name(static_cast<failure>(i)),
                        s.last_error[i].c_str());
    if (o.tls && !s.tls_version.empty())
        std::printf("  tls          %s %s\n", s.tls_version.c_str(), s.cipher.c_str());
    std::printf("  got-bench    %.2f s CPU (user+sys) over %.2f s wall: %.0f%% of one core, %u "
                "thread(s)\n",
                r.cpu_s, wall, 100.0 * r.cpu_s / wall, o.threads);
}

void print_csv(bench_options const& o, run_result const& r)
{
    auto const& s = r.sum;
    double wall = r.wall_s > 0 ? r.wall_s : 1e-9;
    std::printf(
        "%s,%s,%u,%u,%llu,%llu,%.3f,%.1f,%llu,%.1f,%llu,%.3f,%.3f,%.3f,%.3f,%llu,%.2f,",
        o.hold ? "hold" : "load", o.tls ? "tls" : "plain", o.concurrency, o.threads,
        static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.failures()), wall,
        static_cast<double>(s.ok) / wall, static_cast<unsigned long long>(s.handshakes),
        static_cast<double>(s.handshakes) / wall, static_cast<unsigned long long>(s.resumed),
        ms(s.latency.percentile(0.50)), ms(s.latency.percentile(0.90)),
        ms(s.latency.percentile(0.99)), ms(s.latency.max()),
        static_cast<unsigned long long>(s.bytes), static_cast<double>(s.bytes) / wall / 1e6);
    for (auto f : s.failed)
        std::printf("%llu,", static_cast<unsigned long long>(f));
    std::printf("%llu,%llu,%.3f,%.1f,%s,%s\n", static_cast<unsigned long long>(s.held),
                static_cast<unsigned long long>(s.closed_while_held), r.cpu_s,
                100.0 * r.cpu_s / wall, s.tls_version.empty() ? "-" : s.tls_version.c_str(),
                s.cipher.empty() ? "-" : s.cipher.c_str());
}

run_result run(bench_options const& o, tcp::endpoint const& ep)
{
    unsigned const nthreads = o.threads;
    std::deque<load_thread> threads(nthreads);
    for (auto& lt : threads)
        if (o.tls)
            lt.tls = make_client_context(o);

    run_control control;
    unsigned const nworkers =
        o.hold ? static_cast<unsigned>(std::min<std::uint64_t>(o.concurrency, *o.hold))
               : o.concurrency;
    if (o.hold)
        control.remaining = static_cast<std::int64_t>(*o.hold);
    else if (o.requests)
        control.remaining = static_cast<std::int64_t>(*o.requests);

    std::deque<worker> workers;
    for (unsigned i = 0; i < nworkers; ++i)
        workers.emplace_back(threads[i % nthreads], o, control, ep);

    double const cpu_start = cpu_seconds();
    auto const start = steady::now();
    control.deadline = start + o.duration;
    for (auto& w : workers)
        net::co_spawn(w.thread.ioc, o.hold ? run_opener(w) : run_worker(w), net::detached);

    using guard_type = net::executor_work_guard<net::io_context::executor_type>;
    std::vector<guard_type> guards;
    std::vector<std::thread> runners;
    for (auto& lt : threads) {
        guards.push_back(net::make_work_guard(lt.ioc));
        runners.emplace_back([&ioc = lt.ioc] { ioc.run(); });
    }

    auto next_progress = start + 1s;
    totals last{};
    bool announced = false;
    for (;;) {
        std::this_thread::sleep_for(20ms);
        auto now = steady::now();
        if (signalled)
            control.stop = true;
        bool workers_finished = control.workers_done.load() == nworkers;
        if (o.hold && workers_finished && !announced) {
            auto t = current_totals(threads);
            std::fprintf(stderr, "holding %llu connections (%llu failed)\n",
                         static_cast<unsigned long long>(t.held),
                         static_cast<unsigned long long>(t.failed));
            announced = true;
        }
        if (workers_finished && (!o.hold || signalled || now >= control.deadline))
            break;
        if (now >= next_progress) {
            auto t = current_totals(threads);
            double elapsed = std::chrono::duration<double>(now - start).count();
            if (!o.quiet) {
                if (o.hold)
                    std::fprintf(stderr, "[%6.1fs] held %llu, failed %llu\n", elapsed,
                                 static_cast<unsigned long long>(t.held),
                                 static_cast<unsigned long long>(t.failed));
                else
                    std::fprintf(stderr, "[%6.1fs] %llu ok (%llu/s), %llu failed\n", elapsed,
                                 static_cast<unsigned long long>(t.ok),
                                 static_cast<unsigned long long>(t.ok - last.ok),
                                 static_cast<unsigned long long>(t.failed));
            }
            last = t;
            next_progress += 1s;
        }
    }
    auto const end = steady::now();

    // Stopping the loops abandons the held connections; their frames (and sockets)
    // are destroyed with the io_contexts below.
    guards.clear();
    for (auto& lt : threads)
        lt.ioc.stop();
    for (auto& r : runners)
        r.join();

    run_result result;
    result.wall_s = std::chrono::duration<double>(end - start).count();
    result.cpu_s = cpu_seconds() - cpu_start;
    for (auto const& lt : threads)
        result.sum.add(lt.stats);
    return result;
}

} // namespace

int main(int argc, char** argv)
{
    bench_options o;
    if (auto code = parse_options(argc, argv, o))
        return *code;

    std::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa
    {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    raise_fd_limit();

    auto ep = resolve(o);
    if (!ep)
        return 2;

    run_result r = run(o, *ep);
    if (o.csv)
        print_csv(o, r);
    else
        print_report(o, r);
    std::fflush(stdout);
    // Failures are reported, not an exit status, except when nothing worked at all.
    return r.sum.ok == 0 ? 1 : 0;
}
