// Backend host names, resolved off the event loops. Asio's resolver runs getaddrinfo
// on a thread of its own, so a slow DNS server delays a reload, never a connection, a
// health check or an admin request. IP literals are used as written, with no lookup.
#pragma once

#include "common/config.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace got {

// addresses[route][backend]: every address of that backend, in the resolver's order.
using backend_addresses = std::vector<std::vector<std::vector<boost::asio::ip::tcp::endpoint>>>;

using resolve_handler = std::function<void(backend_addresses, std::string error)>;

// Resolves every backend of `cfg` and calls `done` on `ctx` (never inline) with the
// addresses, or with an error naming the first backend that did not resolve
// ("routes[i].backends[j]: cannot resolve host:port: ...").
void async_resolve_backends(boost::asio::io_context& ctx, std::shared_ptr<config const> cfg,
                            resolve_handler done);

// The same, blocking: for startup and `-t`, before any event loop serves.
bool resolve_backends(std::shared_ptr<config const> cfg, backend_addresses& out,
                      std::string& error);

} // namespace got
