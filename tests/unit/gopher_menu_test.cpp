// Gopher menus: the all-or-nothing decision and the rewrite of items pointing at the
// backend (common/gopher_menu.hpp).
#include "common/gopher_menu.hpp"

#include <array>
#include <gtest/gtest.h>
#include <string>

namespace got::gopher_menu {
namespace {

std::array<host_port, 1> const backend{host_port{"127.0.0.1", 7070}};
rewrite_rule const rule{"/phorum", {"gopher.example.org", 70}, backend};

TEST(GopherMenu, WhatIsAMenu)
{
    struct row
    {
        std::string reply;
        bool menu;
    };
    row const rows[] = {
        {"1Home\t/\t127.0.0.1\t7070\r\n.\r\n", true},
        {".\r\n", true},                                     // an empty menu
        {"1Home\t/\th\t70\n.\n", true},                      // bare LF
        {"1Home\t/\th\t70\r\n0Doc\t/d\th\t70\n.\r\n", true}, // each line its own ending
        {"1Home\t/\th\t70\t+\r\n.\r\n", true},               // Gopher+ field
        {"iText\t\t(NULL)\t0\r\n.\r\n", true},
        {"1Home\t/\th\t70\r\n", true},                        // no `.` line (pygopherd)
        {"1Home\t/\th\t70\t+\r\n0A\t/a\th\t70\t+\r\n", true}, // pygopherd's Gopher0 menus
        {"1Home\t/\th\t70", false},                           // last line without end
        {"1Home\t/\th\t70\r\n.\r\nmore", false},              // bytes after the end
        {"1Home\t/\th\t70\r\n.", false},                      // `.` without ending
        {"1Home\t/\th\r\n.\r\n", false},                      // no port
        {"1Home\t/\th\tx70\r\n.\r\n", false},                 // port not digits
        {"1Home\t/\th\t123456\r\n.\r\n", false},              // port too long
        {"1Home\t/\th\t\r\n.\r\n", false},                    // empty port
        {"\r\n.\r\n", false},                                 // empty line
        {" Home\t/\th\t70\r\n.\r\n", false},                  // type not printable
        {"\x89PNG\r\n\x1a\n", false},
        {"1Ho\rme\t/\th\t70\r\n.\r\n", false}, // stray CR
        {"", false},
        {"..\r\n.\r\n", false},
    };
    for (auto const& r : rows)
        EXPECT_EQ(is_menu(r.reply), r.menu) << "reply: " << r.reply;
}

TEST(GopherMenu, RewritesItemsOfTheBackendOnly)
{
    std::string const in = "iWelcome\t\tnull.host\t1\r\n"
                           "1Forum\t/forum\t127.0.0.1\t7070\r\n"
                           "0Root\t\t127.0.0.1\t7070\r\n"
                           "7Search\t/search?x\t127.0.0.1\t7070\t+\r\n"
                           "1Elsewhere\t/x\tother.org\t70\r\n"
                           "1Other port\t/x\t127.0.0.1\t70\r\n"
                           "hWeb\tURL:http://example.org/\t127.0.0.1\t7070\r\n"
                           "3Error\t/e\t127.0.0.1\t7070\r\n"
                           "1Relative\tdocs\t127.0.0.1\t7070\r\n"
                           ".\r\n";
    std::string const want = "iWelcome\t\tnull.host\t1\r\n"
                             "1Forum\t/phorum/forum\tgopher.example.org\t70\r\n"
                             "0Root\t/phorum\tgopher.example.org\t70\r\n"
                             "7Search\t/phorum/search?x\tgopher.example.org\t70\t+\r\n"
                             "1Elsewhere\t/x\tother.org\t70\r\n"
                             "1Other port\t/x\t127.0.0.1\t70\r\n"
                             "hWeb\tURL:http://example.org/\t127.0.0.1\t7070\r\n"
                             "3Error\t/e\t127.0.0.1\t7070\r\n"
                             "1Relative\tdocs\t127.0.0.1\t7070\r\n"
                             ".\r\n";
    auto out = rewrite(in, rule);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, want);
    EXPECT_TRUE(is_menu(*out));
}

TEST(GopherMenu, MenuWithoutDotLineStaysWithout)
{
    auto out = rewrite("1A\t/a\t127.0.0.1\t7070\t+\r\n", rule);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, "1A\t/phorum/a\tgopher.example.org\t70\t+\r\n");
}

TEST(GopherMenu, HostIsCaseBlindAndLineEndingsStay)
{
    auto out = rewrite("1A\t/a\tLOCALHOST\t7070\n.\n",
                       {"/p", {"pub", 7000}, std::array{host_port{"localhost", 7070}}});
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, "1A\t/p/a\tpub\t7000\n.\n");
}

TEST(GopherMenu, NotAMenuIsNotRewritten)
{
    EXPECT_FALSE(rewrite("1Forum\t/forum\t127.0.0.1\t7070", rule));
    EXPECT_FALSE(rewrite("hello\r\n.\r\n", rule));
    // A binary whose first part is a perfect menu, then more bytes.
    std::string const binary("1Forum\t/forum\t127.0.0.1\t7070\r\n.\r\n\0\x01\x02", 36);
    ASSERT_EQ(binary.back(), '\x02');
    EXPECT_FALSE(rewrite(binary, rule));
}

TEST(GopherMenu, SizeCap)
{
    std::string const line = "1Item\t/i\t127.0.0.1\t7070\r\n";
    std::string big;
    while (big.size() + line.size() + 3 <= max_menu_size)
        big += line;
    big += ".\r\n";
    ASSERT_LE(big.size(), max_menu_size);
    EXPECT_TRUE(is_menu(big));
    // Rewriting grows every line: over the cap, so nothing is rewritten.
    EXPECT_FALSE(rewrite(big, rule));
    std::string over = big;
    over.insert(0, std::string(max_menu_size, 'i') + "\t\th\t1\r\n");
    EXPECT_FALSE(is_menu(over));
    // A menu that shrinks still fits.
    auto shrink = rewrite(big, {"", {"h", 1}, backend});
    ASSERT_TRUE(shrink);
    EXPECT_LE(shrink->size(), max_menu_size);
}

} // namespace
} // namespace got::gopher_menu
