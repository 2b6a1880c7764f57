// Process-level concerns: dropping privileges after binding, and listening sockets
// inherited from systemd (socket activation, `LISTEN_FDS`).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <vector>

namespace got {

// Switches to `user` (and `group`, else the user's primary group), dropping
// supplementary groups. Returns false with `error` set when it cannot.
bool drop_privileges(std::string const& user, std::string const& group, std::string& error);

// Listening TCP sockets passed by systemd to this process (fds 3..3+LISTEN_FDS-1),
// each with the address it is bound to. Unsets the variables so children do not
// inherit them.
struct inherited_socket
{
    int fd;
    boost::asio::ip::tcp::endpoint local;
};
std::vector<inherited_socket> take_inherited_sockets();

} // namespace got
