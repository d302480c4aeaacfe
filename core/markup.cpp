// markup.cpp: the XML/HTML escape (markup.h).
#include "core/markup.h"

#include "core/io_files.h"

namespace attn {

std::string markup_escape(std::string_view text) {
  std::string out;
  for (char c : printable_path(text)) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace attn
