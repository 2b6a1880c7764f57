// Runs a piece of a test as an unprivileged user, for checks that mean nothing as root
// (root reads a file whatever its mode). As root: forks, and the child drops to a throwaway
// uid and gid (no passwd entry, no supplementary groups), runs the body, and exits 0 when
// the body recorded no failure; the child's failures are printed as it goes. Otherwise the
// body runs in this process. The files the body opens must be reachable by "others".
#pragma once

#include <cstdio>
#include <grp.h>
#include <gtest/gtest.h>
#include <iostream>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace got::test {

// A uid and gid no account uses.
inline constexpr uid_t throwaway_id = 64999;

template <class Body>
::testing::AssertionResult as_unprivileged_user(Body body)
{
    if (::geteuid() != 0) {
        body();
        return ::testing::AssertionSuccess();
    }
    std::cout.flush();
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child < 0)
        return ::testing::AssertionFailure() << "fork failed";
    if (child == 0) {
        if (::setgroups(0, nullptr) != 0 ||
            ::setresgid(throwaway_id, throwaway_id, throwaway_id) != 0 ||
            ::setresuid(throwaway_id, throwaway_id, throwaway_id) != 0 || ::geteuid() == 0)
            ::_exit(2);
        body();
        std::cout.flush();
        std::fflush(nullptr);
        ::_exit(::testing::Test::HasFailure() ? 1 : 0);
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child)
        return ::testing::AssertionFailure() << "waitpid failed";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return ::testing::AssertionSuccess();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
        return ::testing::AssertionFailure() << "could not drop to uid/gid " << throwaway_id;
    return ::testing::AssertionFailure()
           << "the check as uid " << throwaway_id << " failed (status " << status << ")";
}

} // namespace got::test
