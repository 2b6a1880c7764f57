// Active health checks (`routes[].health`), run on the control loop.
//
// One probe loop per backend candidate of each route with `health:`. A probe is a
// TCP connect or, with `health.selector`, a Gopher request whose reply must be
// non-empty (and contain `health.expect`), all within `health.timeout`. Results go to
// the backend's shared state, which moves it down after `fall` failures and up after
// `rise` successes. A reload stops the loops of the old snapshot and starts new ones;
// the states (and so up/down) carry over.
#pragma once

#include "common/awaitable.hpp"
#include "runtime.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>

namespace got {

class health_checker
{
public:
    explicit health_checker(net::io_context& ctx);
    ~health_checker();

    void start(std::shared_ptr<runtime const> rt); // stops the previous generation
    void stop();

private:
    net::io_context& ctx_;
    std::shared_ptr<std::atomic<bool>> stopped_;
};

} // namespace got
