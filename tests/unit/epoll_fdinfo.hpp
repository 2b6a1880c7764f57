// What the kernel holds for a socket in this process's epoll sets, read from each epoll
// descriptor's /proc/self/fdinfo ("tfd: N events: HEX data: HEX pos:0 ino:HEX ..." per
// registration). For the tests of sockets handed to Asio's reactor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>

namespace got::test {

// The event mask registered for the socket with inode `inode`, if an epoll set holds it.
inline std::optional<std::uint32_t> epoll_events_of(ino_t inode)
{
    for (auto const& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code e;
        if (std::filesystem::read_symlink(fd.path(), e).string() != "anon_inode:[eventpoll]")
            continue;
        std::ifstream info("/proc/self/fdinfo/" + fd.path().filename().string());
        std::string line;
        while (std::getline(info, line)) {
            auto at = line.find(" ino:");
            auto events = line.find("events:");
            if (line.rfind("tfd:", 0) == 0 && at != std::string::npos &&
                events != std::string::npos &&
                std::stoull(line.substr(at + 5), nullptr, 16) == inode)
                return static_cast<std::uint32_t>(std::stoul(line.substr(events + 7), nullptr, 16));
        }
    }
    return std::nullopt;
}

inline bool in_some_epoll_set(ino_t inode)
{
    return epoll_events_of(inode).has_value();
}

inline ino_t inode_of(int fd)
{
    struct stat st
    {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

} // namespace got::test
