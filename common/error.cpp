#include "error.hpp"

#include <string>

namespace got {

std::string_view outcome_name(error e) noexcept
{
    switch (e) {
    case error::ok:
        return "ok";
    case error::no_route:
        return "no_route";
    case error::backend_unavailable:
        return "backend_unavailable";
    case error::backend_timeout:
        return "backend_timeout";
    case error::handshake_timeout:
        return "handshake_timeout";
    case error::handshake_failed:
        return "handshake_failed";
    case error::idle_timeout:
        return "idle_timeout";
    case error::client_reset:
        return "client_reset";
    case error::backend_reset:
        return "backend_reset";
    case error::refused_plaintext:
        return "refused_plaintext";
    case error::refused_tls:
        return "refused_tls";
    case error::client_closed:
        return "client_closed";
    case error::shutdown:
        return "shutdown";
    case error::over_limit:
        return "over_limit";
    case error::bad_proxy_header:
        return "bad_proxy_header";
    case error::bad_request:
        return "bad_request";
    }
    return "unknown";
}

namespace {

class category final : public boost::system::error_category
{
public:
    char const* name() const noexcept override { return "got-router"; }
    std::string message(int ev) const override
    {
        return std::string(outcome_name(static_cast<error>(ev)));
    }
};

} // namespace

boost::system::error_category const& error_category() noexcept
{
    static category const instance;
    return instance;
}

} // namespace got
