#include "fresh_socket.hpp"

#include "drained_receive.hpp"

#include <boost/version.hpp>
#include <sys/socket.h>
#include <unistd.h>

namespace got {

static_assert(BOOST_VERSION / 100 == 1081,
              "fresh_socket.cpp reads Asio 1.81's per-socket state; check "
              "reactive_socket_service_base and socket_ops' state flags for this Boost");

namespace {

namespace ops = net::detail::socket_ops;

// basic_socket's implementation is protected; a pointer to it formed through a derived
// class is allowed, and reads it in any tcp_socket.
struct socket_state : tcp_socket
{
    static ops::state_type& of(tcp_socket& s)
    {
        return (s.*&socket_state::impl_).get_implementation().state_;
    }
};

} // namespace

void adopt_fresh(tcp_socket& s, net::ip::tcp protocol, int fd, boost::system::error_code& ec)
{
    assign_watched(s, protocol, fd, writable_edges::when_waited, ec);
}

void open_fresh(tcp_socket& s, net::ip::tcp protocol, boost::system::error_code& ec)
{
    int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    assign_watched(s, protocol, fd, writable_edges::from_registration, ec);
}

bool adopted_fresh(tcp_socket& s)
{
    auto state = socket_state::of(s);
    return (state & ops::internal_non_blocking) && !(state & ops::possible_dup);
}

} // namespace got
