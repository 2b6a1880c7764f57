// got-router: the command line. `got-router -c FILE` runs the router;
// `got-router -t -c FILE` checks a config like `nginx -t`.
#include "common/config_loader.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "runtime.hpp"
#include "server.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <getopt.h>
#include <grp.h>
#include <iostream>
#include <pwd.h>
#include <variant>

namespace {

constexpr char const* default_config_path = "/etc/got-router/got-router.yaml";

void usage(std::FILE* out)
{
    std::fprintf(out,
                 "usage: got-router [-c FILE] [-t]\n"
                 "\n"
                 "A Gopher-over-TLS router: plaintext Gopher and GoT on one port, TLS by SNI,\n"
                 "routed to plaintext Gopher backends.\n"
                 "\n"
                 "  -c, --config FILE  configuration file (default %s)\n"
                 "  -t, --test         check the configuration, print `configuration OK`, exit\n"
                 "      --version      print the version and exit\n"
                 "  -h, --help         print this help and exit\n",
                 default_config_path);
}

struct options
{
    std::string config_path = default_config_path;
    bool test_only = false;
};

// Returns an exit code when the program should stop after parsing, else -1.
int parse_arguments(int argc, char** argv, options& opts)
{
    static option const long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"test", no_argument, nullptr, 't'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:th", long_options, nullptr)) != -1) {
        switch (c) {
        case 'c':
            opts.config_path = optarg;
            break;
        case 't':
            opts.test_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            std::printf("got-router %s\n", GOT_VERSION);
            return 0;
        case ':':
            std::fprintf(stderr, "got-router: option %s needs an argument\n\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            std::fprintf(stderr, "got-router: unknown option %s\n\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "got-router: unexpected argument %s\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

} // namespace

int main(int argc, char** argv)
{
    options opts;
    if (int code = parse_arguments(argc, argv, opts); code >= 0)
        return code;

    auto load_started = std::chrono::steady_clock::now();
    auto loaded = got::load_config(opts.config_path);
    if (auto* problems = std::get_if<std::vector<got::config_problem>>(&loaded)) {
        for (auto const& p : *problems)
            std::fprintf(stderr, "%s\n", p.to_string().c_str());
        std::fprintf(stderr, "got-router: configuration %s has %zu problem(s)\n",
                     opts.config_path.c_str(), problems->size());
        return 1;
    }
    auto cfg = std::make_shared<got::config const>(std::move(std::get<got::config>(loaded)));
    got::log::set_level(cfg->logging.level);

    std::string error;
    got::backend_addresses addresses;
    std::shared_ptr<got::runtime const> rt;
    if (got::resolve_backends(cfg, addresses, error))
        rt = got::build_runtime(cfg, addresses, error);
    if (!rt) {
        std::fprintf(stderr, "%s: %s\n", opts.config_path.c_str(), error.c_str());
        return 1;
    }
    if (!cfg->user.empty() && !::getpwnam(cfg->user.c_str())) {
        std::fprintf(stderr, "%s: user: \"%s\" does not exist\n", opts.config_path.c_str(),
                     cfg->user.c_str());
        return 1;
    }
    if (!cfg->group.empty() && !::getgrnam(cfg->group.c_str())) {
        std::fprintf(stderr, "%s: group: \"%s\" does not exist\n", opts.config_path.c_str(),
                     cfg->group.c_str());
        return 1;
    }
    if (opts.test_only) {
        std::printf("configuration OK\n");
        return 0;
    }
    auto& m = got::metrics::get();
    m.last_reload_seconds.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_started).count());
    m.last_reload_timestamp.store(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());

    std::signal(SIGPIPE, SIG_IGN);
    got::raise_fd_limit();
    got::server srv(opts.config_path, rt);
    if (!srv.open(error)) {
        got::log::error(error);
        return 1;
    }
    return srv.run();
}
