// document.h: the one model of a report — headings, paragraphs, tables, figures, code blocks —
// rendered to Markdown and to a self-contained HTML page by the two functions below. A report is
// built once as a Document; report.md and report.html are two renderings of it, so they cannot
// drift (what one says, the other says). Text is plain: the renderers escape it (Markdown table
// pipes, HTML's < > & and quotes); nothing from a database is ever interpreted as markup.
// What it is not: a general Markdown library (only what the reports use) or a plotting tool.
#pragma once

#include <string>
#include <vector>

namespace attn {

/// A run of text with one style.
struct Span {
  enum class Style { plain, code, bold, good, bad };  ///< good/bad: a verdict (HTML colours it; Markdown bolds bad)
  std::string text;
  Style style = Style::plain;
};
using Inline = std::vector<Span>;

inline Span plain(std::string s) { return {std::move(s), Span::Style::plain}; }
inline Span code(std::string s) { return {std::move(s), Span::Style::code}; }
inline Span bold(std::string s) { return {std::move(s), Span::Style::bold}; }

struct Block {
  enum class Kind { heading, paragraph, table, figure, code_block, bullets };
  Kind kind = Kind::paragraph;
  int level = 1;                          ///< heading: 1..4
  Inline text;                            ///< heading, paragraph; figure: the caption
  std::vector<Inline> header;             ///< table
  std::vector<std::vector<Inline>> rows;  ///< table rows; bullets: one Inline per item (rows[i][0])
  std::string path;                       ///< figure: SVG path relative to the report folder
  std::string literal;                    ///< code_block
};

class Document {
 public:
  explicit Document(std::string title) : title_(std::move(title)) {}
  Document& heading(int level, Inline text);
  Document& paragraph(Inline text);
  Document& table(std::vector<Inline> header, std::vector<std::vector<Inline>> rows);
  Document& figure(Inline caption, std::string svg_path);
  Document& code_block(std::string text);
  Document& bullets(std::vector<Inline> items);
  const std::string& title() const { return title_; }
  const std::vector<Block>& blocks() const { return blocks_; }

 private:
  std::string title_;
  std::vector<Block> blocks_;
};

/// GitHub-flavoured Markdown (tables, fenced code, images by relative path).
std::string render_markdown(const Document& doc);

/// One HTML page with the SVG figures inlined from `base_dir` (a figure whose file cannot be read
/// is shown as its caption and "(plot not drawn)"), readable fonts, no scripts, no external links.
std::string render_html(const Document& doc, const std::string& base_dir);

/// The text of an Inline without styling (for titles and alt text).
std::string plain_text(const Inline& text);

}  // namespace attn
