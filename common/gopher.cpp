#include "gopher.hpp"

namespace got::gopher {

std::string error_item(std::string_view message)
{
    std::string item = "3";
    for (char c : message)
        item.push_back((c == '\t' || c == '\r' || c == '\n') ? ' ' : c);
    item += "\t\terror.host\t1\r\n.\r\n";
    return item;
}

} // namespace got::gopher
