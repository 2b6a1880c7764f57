// The admin endpoint (Boost.Beast, HTTP/1.1) on `admin.address`:
//   GET /metrics  Prometheus text format 0.0.4
//   GET /healthz  200 while the process runs
//   GET /readyz   200 when listeners are open and a config is loaded; 503 while draining
//   GET /config   the running config as JSON (paths, never key material)
// It runs on the control loop, never on a data-path loop; each request is bounded in
// size and time.
#pragma once

#include "common/awaitable.hpp"
#include "common/config.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace got {

struct admin_hooks
{
    std::function<bool()> ready;              // /readyz
    std::function<std::string()> config_json; // /config
};

class admin_server
{
public:
    admin_server(net::io_context& ctx, admin_hooks hooks);

    // Binds; on failure returns false with `error` naming the address.
    bool open(endpoint const& address, std::string& error);
    void start();
    void close();
    std::string bound_address() const { return bound_; }

private:
    net::io_context& ctx_;
    std::shared_ptr<admin_hooks const> hooks_;
    std::shared_ptr<net::ip::tcp::acceptor> acceptor_; // shared with the accept loop
    std::string bound_;
};

} // namespace got
