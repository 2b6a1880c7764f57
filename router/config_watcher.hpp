// Watches the config file and every certificate and key file it names, through
// inotify on their directories: a ConfigMap/Secret update (the `..data` symlink swap)
// and certbot's symlink swap both show up as events on the directory. Events are
// debounced; the callback runs on the control loop.
#pragma once

#include "common/awaitable.hpp"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace got {

class config_watcher
{
public:
    config_watcher(net::io_context& ctx, std::function<void()> on_change);
    ~config_watcher();

    // Replaces the watched set (call after every successful load).
    void watch(std::vector<std::string> const& files);
    void start();

private:
    void read_events();
    void changed();

    net::io_context& ctx_;
    std::function<void()> on_change_;
    int fd_ = -1;
    std::unique_ptr<net::posix::stream_descriptor> stream_;
    net::steady_timer debounce_;
    std::map<int, std::string> dirs_;                    // watch descriptor -> directory
    std::map<std::string, std::set<std::string>> names_; // directory -> file names
    std::array<char, 8192> buffer_{};
};

} // namespace got
