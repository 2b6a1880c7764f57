#include "process.hpp"

#include <cstdlib>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace got {

bool drop_privileges(std::string const& user, std::string const& group, std::string& error)
{
    passwd* pw = ::getpwnam(user.c_str());
    if (!pw) {
        error = "user \"" + user + "\" does not exist";
        return false;
    }
    gid_t gid = pw->pw_gid;
    if (!group.empty()) {
        struct group* gr = ::getgrnam(group.c_str());
        if (!gr) {
            error = "group \"" + group + "\" does not exist";
            return false;
        }
        gid = gr->gr_gid;
    }
    uid_t uid = pw->pw_uid;
    if (::getuid() == uid && ::geteuid() == uid && ::getgid() == gid)
        return true;
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        error = "cannot switch to user \"" + user + "\": " + std::strerror(errno);
        return false;
    }
    // Make sure there is no way back.
    if (uid != 0 && ::setuid(0) == 0) {
        error = "privileges could be regained after dropping them";
        return false;
    }
    return true;
}

std::vector<inherited_socket> take_inherited_sockets()
{
    std::vector<inherited_socket> out;
    char const* pid = std::getenv("LISTEN_PID");
    char const* fds = std::getenv("LISTEN_FDS");
    if (!pid || !fds || std::atol(pid) != static_cast<long>(::getpid()))
        return out;
    int n = std::atoi(fds);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    for (int fd = 3; fd < 3 + n; ++fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
            continue;
        boost::asio::ip::tcp::endpoint ep;
        if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
            continue;
        std::memcpy(ep.data(), &ss, len);
        ep.resize(len);
        out.push_back({fd, ep});
    }
    return out;
}

} // namespace got
