#include "backend_resolver.hpp"

#include <boost/asio/post.hpp>

namespace got {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string backend_key(std::size_t route, std::size_t backend)
{
    return "routes[" + std::to_string(route) + "].backends[" + std::to_string(backend) + "]";
}

// One reload's lookups. The last handler to finish reports; errors are kept per backend
// so the one reported is the first in config order, whatever order the answers came in.
struct resolve_job
{
    resolve_job(net::io_context& ctx, std::shared_ptr<config const> c, resolve_handler d)
        : cfg(std::move(c))
        , resolver(ctx)
        , done(std::move(d))
    {}

    void finish_one()
    {
        if (--pending)
            return;
        std::string error;
        for (auto const& e : errors)
            if (!e.empty()) {
                error = e;
                break;
            }
        done(error.empty() ? std::move(addresses) : backend_addresses{}, std::move(error));
    }

    std::shared_ptr<config const> cfg;
    tcp::resolver resolver;
    resolve_handler done;
    backend_addresses addresses;
    std::vector<std::string> errors; // flat, route by route
    std::size_t pending = 1;         // the lookups, plus one for the setup itself
};

} // namespace

void async_resolve_backends(net::io_context& ctx, std::shared_ptr<config const> cfg,
                            resolve_handler done)
{
    auto job = std::make_shared<resolve_job>(ctx, std::move(cfg), std::move(done));
    auto const& routes = job->cfg->routes;
    job->addresses.resize(routes.size());
    std::size_t flat = 0;
    for (std::size_t r = 0; r < routes.size(); ++r)
        flat += routes[r].backends.size();
    job->errors.resize(flat);

    flat = 0;
    for (std::size_t r = 0; r < routes.size(); ++r) {
        job->addresses[r].resize(routes[r].backends.size());
        for (std::size_t b = 0; b < routes[r].backends.size(); ++b, ++flat) {
            auto const& address = routes[r].backends[b].address;
            boost::system::error_code ec;
            auto ip = net::ip::make_address(address.host, ec);
            if (!ec) {
                job->addresses[r][b].emplace_back(ip, address.port);
                continue;
            }
            ++job->pending;
            job->resolver.async_resolve(
                address.host, std::to_string(address.port), tcp::resolver::numeric_service,
                [job, r, b, flat](boost::system::error_code ec,
                                  tcp::resolver::results_type results) {
                    auto text = job->cfg->routes[r].backends[b].address.to_string();
                    if (ec || results.empty())
                        job->errors[flat] = backend_key(r, b) + ": cannot resolve " + text + ": " +
                                            (ec ? ec.message() : std::string("no address"));
                    for (auto const& entry : results)
                        job->addresses[r][b].push_back(entry.endpoint());
                    job->finish_one();
                });
        }
    }
    // Always answer from the loop, even when nothing needed a lookup.
    net::post(ctx, [job] { job->finish_one(); });
}

bool resolve_backends(std::shared_ptr<config const> cfg, backend_addresses& out, std::string& error)
{
    net::io_context ctx(1);
    bool ok = false;
    async_resolve_backends(ctx, std::move(cfg), [&](backend_addresses addresses, std::string e) {
        ok = e.empty();
        out = std::move(addresses);
        error = std::move(e);
    });
    ctx.run();
    return ok;
}

} // namespace got
