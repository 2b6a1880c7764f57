// published<T>: a shared_ptr that one thread publishes and others copy (config
// snapshots, listener contexts, session-ticket keys).
#pragma once

#include <memory>
#include <mutex>

namespace got {

// A shared_ptr that one thread publishes and others copy. Not std::atomic<shared_ptr>:
// libstdc++ 12's load() releases its lock bit with memory_order_relaxed, so its read
// of the pointer is not ordered before the next store's write (a data race, reported
// by TSan in reload_under_load and on the ticket keys). libstdc++'s version is a spinlock anyway; a
// mutex costs the same per accept. The replaced value is released outside the lock.
template <class T>
class published
{
public:
    explicit published(std::shared_ptr<T> p = nullptr)
        : ptr_(std::move(p))
    {}
    std::shared_ptr<T> load() const
    {
        std::lock_guard lock(mutex_);
        return ptr_;
    }
    void store(std::shared_ptr<T> p)
    {
        std::lock_guard lock(mutex_);
        ptr_.swap(p);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<T> ptr_;
};

} // namespace got
