#include "experiments/toml_input.h"

#include <sstream>

#include "core/errors.h"
#include "core/io_files.h"

namespace attn {

void require_ascii_outside_strings(const std::string& text, const std::string& origin, const std::string& what) {
  enum class State { normal, comment, basic, literal, multiline_basic, multiline_literal };
  State state = State::normal;
  size_t line = 1, column = 1;
  auto starts = [&](size_t i, const char* s) { return text.compare(i, std::char_traits<char>::length(s), s) == 0; };
  for (size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 0;
      // A comment, and a single-line string (an error toml++ reports), end at the line's end.
      if (state == State::comment || state == State::basic || state == State::literal) state = State::normal;
      continue;
    }
    switch (state) {
      case State::normal:
        if (static_cast<unsigned char>(c) >= 0x80) {
          std::ostringstream msg;
          msg << what << " '" << printable_path(origin) << "' line " << line << ", column " << column
              << ": a non-ASCII character outside a string or a comment (TOML allows none there)";
          throw Error(msg.str());
        }
        if (c == '#') state = State::comment;
        else if (starts(i, "\"\"\"")) state = State::multiline_basic, i += 2, column += 2;
        else if (starts(i, "'''")) state = State::multiline_literal, i += 2, column += 2;
        else if (c == '"') state = State::basic;
        else if (c == '\'') state = State::literal;
        break;
      case State::comment: break;
      case State::basic:
        if (c == '\\') ++i, ++column;  // an escaped character, whatever it is
        else if (c == '"') state = State::normal;
        break;
      case State::literal:
        if (c == '\'') state = State::normal;
        break;
      case State::multiline_basic:
      case State::multiline_literal: {
        const bool basic = state == State::multiline_basic;
        if (basic && c == '\\') {
          ++i, ++column;
        } else if (starts(i, basic ? "\"\"\"" : "'''")) {
          // Up to two more quotes belong to the content ("""" ends with one quote inside).
          size_t end = i + 3;
          while (end < text.size() && end < i + 5 && text[end] == (basic ? '"' : '\'')) ++end;
          column += end - 1 - i;
          i = end - 1;
          state = State::normal;
        }
        break;
      }
    }
  }
}

toml::table parse_toml_input(const std::string& text, const std::string& origin, const std::string& what) {
  require_ascii_outside_strings(text, origin, what);
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << what << " '" << printable_path(origin) << "' is not valid TOML: " << e.description() << " (line "
        << e.source().begin.line << ", column " << e.source().begin.column << ")";
    throw Error(msg.str());
  }
}

}  // namespace attn
