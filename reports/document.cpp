// document.cpp: the report model and its Markdown and HTML renderings (document.h).
#include "reports/document.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>

#include "core/io_files.h"
#include "core/markup.h"

namespace attn {
namespace {

constexpr uint64_t kMaxSvgBytes = uint64_t{64} << 20;  // a plot larger than this is not inlined

/// Markdown text: characters that would start markup are escaped; a table cell also escapes '|'.
std::string md_escape(const std::string& s, bool in_table) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      out += ' ';
      continue;
    }
    if (c == '\\' || c == '*' || c == '_' || c == '`' || c == '[' || c == ']' || c == '<' || c == '>' ||
        (in_table && c == '|'))
      out += '\\';
    out += c;
  }
  return out;
}

/// Inline code: a backtick run longer than any inside the text (CommonMark), pipes escaped in tables.
std::string md_code(const std::string& s, bool in_table) {
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  std::string body;
  for (char c : s) {
    if (c == '\n' || c == '\r') body += ' ';
    else if (in_table && c == '|') body += "\\|";
    else body += c;
  }
  const bool pad = !body.empty() && (body.front() == '`' || body.back() == '`');
  return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence;
}

std::string md_inline(const Inline& text, bool in_table = false) {
  std::string out;
  for (const Span& s : text) {
    switch (s.style) {
      case Span::Style::plain:
      case Span::Style::good: out += md_escape(s.text, in_table); break;
      case Span::Style::code: out += md_code(s.text, in_table); break;
      case Span::Style::bold:
      case Span::Style::bad: {
        // CommonMark: ** must touch the text on both sides; spaces at the ends go outside.
        const size_t first = s.text.find_first_not_of(' '), last = s.text.find_last_not_of(' ');
        if (first == std::string::npos) {
          out += s.text;
          break;
        }
        out += s.text.substr(0, first) + "**" + md_escape(s.text.substr(first, last - first + 1), in_table) + "**" +
               s.text.substr(last + 1);
        break;
      }
    }
  }
  return out;
}

std::string html_escape(const std::string& s) { return markup_escape(s); }

std::string html_inline(const Inline& text) {
  std::string out;
  for (const Span& s : text) {
    const std::string t = html_escape(s.text);
    switch (s.style) {
      case Span::Style::plain: out += t; break;
      case Span::Style::code: out += "<code>" + t + "</code>"; break;
      case Span::Style::bold: out += "<strong>" + t + "</strong>"; break;
      case Span::Style::good: out += "<span class=\"good\">" + t + "</span>"; break;
      case Span::Style::bad: out += "<strong class=\"bad\">" + t + "</strong>"; break;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// "Error vs S" -> "error-vs-s": an anchor for a heading.
std::string anchor(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

}  // namespace

Document& Document::heading(int level, Inline text) {
  Block b;
  b.kind = Block::Kind::heading;
  b.level = std::clamp(level, 1, 4);
  b.text = std::move(text);
  blocks_.push_back(std::move(b));
  return *this;
}

Document& Document::paragraph(Inline text) {
  Block b;
  b.kind = Block::Kind::paragraph;
  b.text = std::move(text);
  blocks_.push_back(std::move(b));
  return *this;
}

Document& Document::table(std::vector<Inline> header, std::vector<std::vector<Inline>> rows) {
  Block b;
  b.kind = Block::Kind::table;
  b.header = std::move(header);
  b.rows = std::move(rows);
  for (auto& row : b.rows) row.resize(b.header.size());  // every row as wide as the header
  blocks_.push_back(std::move(b));
  return *this;
}

Document& Document::figure(Inline caption, std::string svg_path) {
  Block b;
  b.kind = Block::Kind::figure;
  b.text = std::move(caption);
  b.path = std::move(svg_path);
  blocks_.push_back(std::move(b));
  return *this;
}

Document& Document::code_block(std::string text) {
  Block b;
  b.kind = Block::Kind::code_block;
  b.literal = std::move(text);
  blocks_.push_back(std::move(b));
  return *this;
}

Document& Document::bullets(std::vector<Inline> items) {
  Block b;
  b.kind = Block::Kind::bullets;
  for (Inline& item : items) b.rows.push_back({std::move(item)});
  blocks_.push_back(std::move(b));
  return *this;
}

std::string plain_text(const Inline& text) {
  std::string out;
  for (const Span& s : text) out += s.text;
  return out;
}

std::string render_markdown(const Document& doc) {
  std::string md = "# " + md_escape(doc.title(), false) + "\n\n";
  for (const Block& b : doc.blocks()) {
    switch (b.kind) {
      case Block::Kind::heading: md += std::string(static_cast<size_t>(b.level) + 1, '#') + " " + md_inline(b.text) + "\n\n"; break;
      case Block::Kind::paragraph: md += md_inline(b.text) + "\n\n"; break;
      case Block::Kind::table: {
        md += "|";
        for (const Inline& h : b.header) md += " " + md_inline(h, true) + " |";
        md += "\n|";
        for (size_t i = 0; i < b.header.size(); ++i) md += "---|";
        md += "\n";
        for (const auto& row : b.rows) {
          md += "|";
          for (const Inline& cell : row) md += " " + md_inline(cell, true) + " |";
          md += "\n";
        }
        md += "\n";
        break;
      }
      case Block::Kind::figure:
        md += "![" + md_escape(plain_text(b.text), false) + "](" + b.path + ")\n\n*" + md_inline(b.text) + "*\n\n";
        break;
      case Block::Kind::code_block: {
        std::string fence = "```";
        while (b.literal.find(fence) != std::string::npos) fence += '`';
        md += fence + "\n" + b.literal + (b.literal.empty() || b.literal.back() == '\n' ? "" : "\n") + fence + "\n\n";
        break;
      }
      case Block::Kind::bullets:
        for (const auto& item : b.rows) md += "- " + md_inline(item.front()) + "\n";
        md += "\n";
        break;
    }
  }
  return md;
}

std::string render_html(const Document& doc, const std::string& base_dir) {
  std::string html =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"attnscope report (document model)\">\n<title>" +
      html_escape(doc.title()) +
      "</title>\n<style>\n"
      "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;font-size:16px;line-height:1.45;max-width:1180px;"
      "margin:2em auto;padding:0 1em;color:#111}\n"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 9px;font-size:14px;"
      "vertical-align:top;overflow-wrap:anywhere}th{background:#eee;text-align:left}\n"
      "code{font-family:'DejaVu Sans Mono',monospace;font-size:13px;background:#f4f4f4;padding:0 2px}\n"
      "pre{background:#f4f4f4;padding:.8em;overflow-x:auto;font-size:13px}\n"
      "figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}"
      "figcaption{font-size:14px;color:#333}\n"
      ".good{color:#06620f}.bad{color:#b00000}\n"
      "</style></head><body>\n<h1>" +
      html_escape(doc.title()) + "</h1>\n";
  for (const Block& b : doc.blocks()) {
    switch (b.kind) {
      case Block::Kind::heading: {
        const std::string tag = "h" + std::to_string(b.level + 1);
        html += "<" + tag + " id=\"" + anchor(plain_text(b.text)) + "\">" + html_inline(b.text) + "</" + tag + ">\n";
        break;
      }
      case Block::Kind::paragraph: html += "<p>" + html_inline(b.text) + "</p>\n"; break;
      case Block::Kind::table:
        html += "<table>\n<tr>";
        for (const Inline& h : b.header) html += "<th>" + html_inline(h) + "</th>";
        html += "</tr>\n";
        for (const auto& row : b.rows) {
          html += "<tr>";
          for (const Inline& cell : row) html += "<td>" + html_inline(cell) + "</td>";
          html += "</tr>\n";
        }
        html += "</table>\n";
        break;
      case Block::Kind::figure: {
        std::string svg;
        try {
          svg = read_regular_file((std::filesystem::path(base_dir) / b.path).string(), kMaxSvgBytes, "plot");
        } catch (const std::exception&) {
          svg.clear();
        }
        html += "<figure>";
        if (svg.empty())
          html += "<p class=\"bad\">(plot not drawn: " + html_escape(b.path) + ")</p>";
        else
          html += "<img alt=\"" + html_escape(plain_text(b.text)) + "\" src=\"data:image/svg+xml;base64," + base64(svg) +
                  "\">";
        html += "<figcaption>" + html_inline(b.text) + "</figcaption></figure>\n";
        break;
      }
      case Block::Kind::code_block: html += "<pre>" + html_escape(b.literal) + "</pre>\n"; break;
      case Block::Kind::bullets:
        html += "<ul>\n";
        for (const auto& item : b.rows) html += "<li>" + html_inline(item.front()) + "</li>\n";
        html += "</ul>\n";
        break;
    }
  }
  return html + "</body></html>\n";
}

}  // namespace attn
