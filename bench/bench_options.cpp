#include "bench_options.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string_view>

namespace got::bench {

namespace {

void usage(std::FILE* out)
{
    std::fprintf(out,
                 "usage: got-bench --port N [options]\n"
                 "\n"
                 "Load generator for Gopher over TLS (GoT) and plaintext Gopher. One request per\n"
                 "connection: connect, [TLS handshake,] send `SELECTOR CR LF`, read until close.\n"
                 "\n"
                 "  --host ADDR          server address (default 127.0.0.1)\n"
                 "  --port N             server port (required)\n"
                 "  --tls                speak TLS (default: plaintext Gopher)\n"
                 "  --sni NAME           TLS server name to send (default: none)\n"
                 "  --alpn PROTO|none    ALPN protocol to offer, e.g. gopher (default: none)\n"
                 "  --selector SEL       selector to request (default: empty)\n"
                 "  --expect-bytes N     a reply of any other size counts as a short-reply error\n"
                 "  -c, --concurrency N  connections in flight at once (default 1)\n"
                 "  -d, --duration S     run for S seconds (default 10; fractions allowed)\n"
                 "  -n, --requests N     stop after N requests (with -d: whichever comes first)\n"
                 "      --resume         resume the previous TLS session (tickets / PSK) on each\n"
                 "                       new connection of a worker\n"
                 "      --threads N      load threads, one event loop each (default 1)\n"
                 "      --hold N         open N connections (-c at a time), finish their TLS\n"
                 "                       handshakes, send nothing and hold them until -d ends or\n"
                 "                       SIGINT/SIGTERM; prints `holding N` on stderr once open\n"
                 "      --timeout S      limit of every socket operation (default 10)\n"
                 "      --csv            print one CSV line instead of the report\n"
                 "      --csv-header     print the names of the CSV fields and exit\n"
                 "  -q, --quiet          no progress line every second on stderr\n"
                 "  -h, --help           this help\n");
}

template <class T>
bool parse_number(char const* text, T& out)
{
    std::string_view s(text);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

bool parse_seconds(char const* text, std::chrono::milliseconds& out)
{
    char* end = nullptr;
    double s = std::strtod(text, &end);
    if (end == text || *end != '\0' || !std::isfinite(s) || s <= 0 || s > 86400)
        return false;
    out = std::chrono::milliseconds(static_cast<long long>(s * 1000.0 + 0.5));
    return out.count() > 0;
}

enum long_only : int
{
    opt_host = 1000,
    opt_port,
    opt_tls,
    opt_sni,
    opt_alpn,
    opt_selector,
    opt_expect,
    opt_resume,
    opt_threads,
    opt_hold,
    opt_timeout,
    opt_csv,
    opt_csv_header,
};

} // namespace

char const* csv_header()
{
    return "mode,transport,concurrency,threads,requests_ok,requests_failed,wall_s,requests_per_s,"
           "handshakes,handshakes_per_s,resumed,p50_ms,p90_ms,p99_ms,max_ms,bytes,mb_per_s,"
           "err_connect,err_handshake,err_write,err_read,err_short_reply,held,"
           "closed_while_held,cpu_s,cpu_percent,tls_version,cipher";
}

std::optional<int> parse_options(int argc, char** argv, bench_options& o)
{
    static option const long_options[] = {
        {"host", required_argument, nullptr, opt_host},
        {"port", required_argument, nullptr, opt_port},
        {"tls", no_argument, nullptr, opt_tls},
        {"sni", required_argument, nullptr, opt_sni},
        {"alpn", required_argument, nullptr, opt_alpn},
        {"selector", required_argument, nullptr, opt_selector},
        {"expect-bytes", required_argument, nullptr, opt_expect},
        {"concurrency", required_argument, nullptr, 'c'},
        {"duration", required_argument, nullptr, 'd'},
        {"requests", required_argument, nullptr, 'n'},
        {"resume", no_argument, nullptr, opt_resume},
        {"threads", required_argument, nullptr, opt_threads},
        {"hold", required_argument, nullptr, opt_hold},
        {"timeout", required_argument, nullptr, opt_timeout},
        {"csv", no_argument, nullptr, opt_csv},
        {"csv-header", no_argument, nullptr, opt_csv_header},
        {"quiet", no_argument, nullptr, 'q'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    auto bad = [](char const* what, char const* value) {
        std::fprintf(stderr, "got-bench: bad %s: %s\n", what, value);
        return 2;
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:d:n:qh", long_options, nullptr)) != -1) {
        switch (c) {
        case opt_host:
            o.host = optarg;
            break;
        case opt_port:
            if (!parse_number(optarg, o.port) || o.port == 0)
                return bad("--port", optarg);
            break;
        case opt_tls:
            o.tls = true;
            break;
        case opt_sni:
            o.sni = optarg;
            break;
        case opt_alpn:
            o.alpn = std::strcmp(optarg, "none") == 0 ? "" : optarg;
            if (o.alpn.size() > 255)
                return bad("--alpn (longer than 255 bytes)", optarg);
            break;
        case opt_selector:
            o.selector = optarg;
            break;
        case opt_expect: {
            std::uint64_t n = 0;
            if (!parse_number(optarg, n))
                return bad("--expect-bytes", optarg);
            o.expect_bytes = n;
            break;
        }
        case 'c':
            if (!parse_number(optarg, o.concurrency) || o.concurrency == 0 ||
                o.concurrency > 100'000)
                return bad("--concurrency", optarg);
            break;
        case 'd':
            if (!parse_seconds(optarg, o.duration))
                return bad("--duration", optarg);
            o.duration_given = true;
            break;
        case 'n': {
            std::uint64_t n = 0;
            if (!parse_number(optarg, n) || n == 0)
                return bad("--requests", optarg);
            o.requests = n;
            break;
        }
        case opt_resume:
            o.resume = true;
            break;
        case opt_threads:
            if (!parse_number(optarg, o.threads) || o.threads == 0 || o.threads > 256)
                return bad("--threads", optarg);
            break;
        case opt_hold: {
            std::uint64_t n = 0;
            if (!parse_number(optarg, n) || n == 0 || n > 1'000'000)
                return bad("--hold", optarg);
            o.hold = n;
            break;
        }
        case opt_timeout:
            if (!parse_seconds(optarg, o.timeout))
                return bad("--timeout", optarg);
            break;
        case opt_csv:
            o.csv = true;
            break;
        case opt_csv_header:
            std::printf("%s\n", csv_header());
            return 0;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            std::fprintf(stderr, "got-bench: option %s needs an argument\n", argv[optind - 1]);
            return 2;
        default:
            std::fprintf(stderr, "got-bench: unknown option %s (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "got-bench: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    if (o.port == 0) {
        std::fprintf(stderr, "got-bench: --port is required (see --help)\n");
        return 2;
    }
    if (o.requests && !o.duration_given)
        o.duration = std::chrono::hours(24); // the count bounds the run; keep a ceiling
    if (o.threads > o.concurrency && !o.hold)
        o.threads = o.concurrency;
    if (o.resume && !o.tls) {
        std::fprintf(stderr, "got-bench: --resume needs --tls\n");
        return 2;
    }
    return std::nullopt;
}

} // namespace got::bench
