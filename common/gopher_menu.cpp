#include "gopher_menu.hpp"

#include <algorithm>
#include <vector>

namespace got::gopher_menu {

namespace {

// One item line, split; `end` is its line ending (CRLF or LF).
struct item
{
    char type = 0;
    std::string_view display;
    std::string_view selector;
    std::string_view host;
    std::string_view port;
    std::string_view more; // TAB and the Gopher+ fields after the port, or empty
    std::string_view end;
    std::string_view whole; // the line with its ending
};

bool is_port(std::string_view p)
{
    return !p.empty() && p.size() <= 5 &&
           std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits one line (without its ending) into the item fields; false when it is not one.
bool split_item(std::string_view line, item& it)
{
    if (line.empty())
        return false;
    auto const t = static_cast<unsigned char>(line[0]);
    if (t < 0x21 || t > 0x7e || t == '.')
        return false;
    it.type = line[0];
    std::string_view fields[4];
    std::string_view rest = line.substr(1);
    for (int i = 0; i < 3; ++i) {
        auto tab = rest.find('\t');
        if (tab == std::string_view::npos)
            return false;
        fields[i] = rest.substr(0, tab);
        rest = rest.substr(tab + 1);
    }
    auto tab = rest.find('\t');
    fields[3] = rest.substr(0, tab);
    it.more = tab == std::string_view::npos ? std::string_view() : rest.substr(tab);
    it.display = fields[0];
    it.selector = fields[1];
    it.host = fields[2];
    it.port = fields[3];
    return is_port(it.port) && line.find('\r') == std::string_view::npos;
}

struct menu
{
    std::vector<item> items;
    std::string_view end; // the `.` line, or empty when the reply ends after its last item
};

// The items of a whole menu, or nullopt when `reply` is not one.
std::optional<menu> parse(std::string_view reply)
{
    if (reply.empty() || reply.size() > max_menu_size)
        return std::nullopt;
    menu m;
    auto& items = m.items;
    std::size_t pos = 0;
    while (pos < reply.size()) {
        auto lf = reply.find('\n', pos);
        if (lf == std::string_view::npos)
            return std::nullopt; // a last line without an ending
        auto line = reply.substr(pos, lf - pos);
        std::size_t end_len = 1;
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
            end_len = 2;
        }
        auto const next = lf + 1;
        if (line == ".") {
            if (next != reply.size())
                return std::nullopt;
            m.end = reply.substr(pos);
            return m;
        }
        item it;
        if (!split_item(line, it))
            return std::nullopt;
        it.end = reply.substr(lf + 1 - end_len, end_len);
        it.whole = reply.substr(pos, next - pos);
        items.push_back(it);
        pos = next;
    }
    return m; // no `.` line: pygopherd ends its menus after the last item
}

bool same_host(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lo = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
               return lo(x) == lo(y);
           });
}

bool points_at_backend(item const& it, rewrite_rule const& rule)
{
    if (it.type == 'i' || it.type == '3')
        return false;
    if (it.type == 'h' && it.selector.starts_with("URL:"))
        return false;
    if (!it.selector.empty() && it.selector[0] != '/' && it.selector[0] != '?')
        return false;
    unsigned port = 0;
    for (char c : it.port)
        port = port * 10 + static_cast<unsigned>(c - '0');
    return std::any_of(rule.backend.begin(), rule.backend.end(), [&](host_port const& b) {
        return b.port == port && same_host(b.host, it.host);
    });
}

void append_rewritten(std::string& out, item const& it, rewrite_rule const& rule)
{
    out += it.type;
    out += it.display;
    out += '\t';
    out += rule.prefix;
    out += it.selector;
    out += '\t';
    out += rule.public_address.host;
    out += '\t';
    out += std::to_string(rule.public_address.port);
    out += it.more;
    out += it.end;
}

} // namespace

bool is_menu(std::string_view reply)
{
    return parse(reply).has_value();
}

std::optional<std::string> rewrite(std::string_view reply, rewrite_rule const& rule)
{
    auto m = parse(reply);
    if (!m)
        return std::nullopt;
    std::string out;
    out.reserve(reply.size());
    for (auto const& it : m->items) {
        if (points_at_backend(it, rule))
            append_rewritten(out, it, rule);
        else
            out += it.whole;
        if (out.size() > max_menu_size)
            return std::nullopt;
    }
    out += m->end;
    if (out.size() > max_menu_size)
        return std::nullopt;
    return out;
}

} // namespace got::gopher_menu
