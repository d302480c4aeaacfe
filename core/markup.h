// markup.h: text for XML and HTML (the gate's JUnit file, the reports' HTML page): one escape.
// What it is not: a Markdown escape (reports/document.cpp has its own, the rules differ).
#pragma once

#include <string>
#include <string_view>

namespace attn {

/// `text` as printable_path writes it (valid UTF-8) with < > & " ' written as entities.
std::string markup_escape(std::string_view text);

}  // namespace attn
