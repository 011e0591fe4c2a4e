// The editor of cnndsl serve: a <textarea> (which keeps the browser's own editing, undo, selection and
// input methods) over a <pre> that shows the same text highlighted, with the errors underlined, and a gutter
// of line numbers. Highlighting follows cnndsl.highlight's Pygments lexer rule for rule, in its order; its
// word lists (keywords, layers) come from the server. The class names are Pygments' short token names.
"use strict";

const IDENT = "[A-Za-z_][A-Za-z0-9_]*";
const TEMPLATE = IDENT + '(?:\\{[^{}\\n"]*\\}[A-Za-z0-9_]*)+';

function escapeRe(word) { return word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// [regex source, class of each group (or of the whole match when there is one class)]
function lexerRules(lexicon) {
  const alt = (words) => "(?:" + words.map(escapeRe).join("|") + ")";
  return [
    ["\\s+", ["w"]],
    ["#.*", ["c1"]],
    ['("[^"\\\\\\n]*")(\\s*)(:)', ["nl", "w", "p"]],
    ['"[^"\\\\\\n]*"', ["s"]],
    [`(block|network|def)(\\s+)(${IDENT})`, ["kd", "w", "nf"]],
    [`(let)(\\s+)(${IDENT})`, ["kd", "w", "no"]],
    [`(${TEMPLATE})(\\s*)(:)`, ["nl", "w", "p"]],
    [`(shortcut)(\\s+)(${IDENT})`, ["k", "w", "nl"]],
    ["(?<![\\w.])in\\." + alt(lexicon.sizes) + "\\b", ["bp"]],
    [alt(lexicon.keywords) + "\\b", ["k"]],
    ["(?:true|false)\\b", ["kc"]],
    [`(${IDENT})(\\s*)(:)`, ["nl", "w", "p"]],
    [`(${IDENT})(\\s*)(=)(?!=)`, ["na", "w", "o"]],
    [alt(lexicon.layers) + "\\b(?=\\s*[({])", ["nb"]],
    [alt(lexicon.functions) + "\\b(?=\\s*\\()", ["nb"]],
    [`${IDENT}(?=\\s*\\()`, ["nf"]],
    ["[0-9]+x[0-9]+(?![A-Za-z0-9_])", ["m"]],
    ["(?:[0-9]+\\.[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", ["mf"]],
    ["[0-9]+", ["mi"]],
    [IDENT, ["n"]],
    ["\\?", ["kc"]],
    ["==|!=|<=|>=|<|>|//|[-+*/%]", ["o"]],
    ["[(){},;:\\[\\].]", ["p"]],
    ["=", ["o"]],
  ].map(([source, classes]) => ({ re: new RegExp(source, "y"), classes }));
}

// A line as [text, class] pieces.
function tokenize(rules, line) {
  const out = [];
  let at = 0;
  while (at < line.length) {
    let matched = null;
    for (const rule of rules) {
      rule.re.lastIndex = at;
      const m = rule.re.exec(line);
      if (m && m[0].length) { matched = [rule, m]; break; }
    }
    if (!matched) { out.push([line[at], "err"]); at += 1; continue; }  // as Pygments' Error token
    const [rule, m] = matched;
    if (rule.classes.length === 1) out.push([m[0], rule.classes[0]]);
    else rule.classes.forEach((cls, i) => { if (m[i + 1]) out.push([m[i + 1], cls]); });
    at += m[0].length;
  }
  return out;
}

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

class Editor {
  constructor(root, lexicon) {
    this.textarea = root.querySelector("#source");
    this.highlight = root.querySelector("#highlight");
    this.gutter = root.querySelector("#gutter");
    this.tooltip = root.querySelector("#tooltip");
    this.code = root.querySelector("#code");
    this.rules = lexerRules(lexicon);
    this.errors = [];  // {range: [line, start, end] 1-based, end exclusive, severity, code, message, hint}
    this.onChange = () => {};
    this.onCursor = () => {};
    this.lastCursorLine = 0;
    const ta = this.textarea;
    ta.addEventListener("input", () => { this.render(); this.onChange(); });
    ta.addEventListener("scroll", () => this.syncScroll());
    for (const type of ["keyup", "mouseup", "select", "focus"]) ta.addEventListener(type, () => this.cursorMoved());
    ta.addEventListener("keydown", (e) => this.keydown(e));
    ta.addEventListener("mousemove", (e) => this.hover(e));
    ta.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
  }

  get text() { return this.textarea.value; }

  setText(text) {
    this.textarea.value = text;
    this.textarea.scrollTop = 0;
    this.errors = [];
    this.render();
  }

  setErrors(errors) {
    this.errors = errors.filter((e) => e.range);
    this.render();
  }

  render() {
    const lines = this.text.split("\n");
    const byLine = new Map();
    for (const e of this.errors) {
      const list = byLine.get(e.range[0]) || [];
      list.push(e);
      byLine.set(e.range[0], list);
    }
    const html = lines.map((line, i) => this.lineHtml(line, byLine.get(i + 1) || []));
    this.highlight.innerHTML = html.join("\n") + "\n ";  // the space: a last empty line keeps its height
    const bad = (i) => (byLine.get(i) || []).some((e) => e.severity !== "warning");
    this.gutter.innerHTML = lines.map((_, i) => (bad(i + 1) ? `<span class="bad">${i + 1}</span>` : `${i + 1}`))
      .join("\n") + "\n ";
    this.syncScroll();
  }

  lineHtml(line, errors) {
    const pieces = tokenize(this.rules, line);
    // an error past the end of its line (a missing '}') underlines a space after it
    const ranges = errors.map((e) => [e.range[1] - 1, Math.max(e.range[2] - 1, e.range[1]), e]);
    const end = Math.max(line.length, ...ranges.map((r) => r[1]));
    if (end > line.length) pieces.push([" ".repeat(end - line.length), "w"]);
    const out = [];
    let at = 0;
    for (const [text, cls] of pieces) {
      // cut the piece where an error starts or ends; an error's pieces are underlined ("squiggle")
      const cuts = new Set([0, text.length]);
      for (const [s, e] of ranges) for (const c of [s - at, e - at]) if (c > 0 && c < text.length) cuts.add(c);
      const sorted = [...cuts].sort((a, b) => a - b);
      for (let k = 0; k + 1 < sorted.length; k++) {
        const part = escapeHtml(text.slice(sorted[k], sorted[k + 1]));
        const pos = at + sorted[k];
        const hit = ranges.find(([s, e]) => pos >= s && pos < e);
        const squiggle = hit ? (hit[2].severity === "warning" ? "squiggle warning" : "squiggle") : "";
        const classes = [cls === "w" ? "" : cls, squiggle].filter(Boolean).join(" ");
        const data = hit ? ` data-code="${escapeHtml(hit[2].code)}"` : "";
        out.push(classes ? `<span class="${classes}"${data}>${part}</span>` : part);
      }
      at += text.length;
    }
    return out.join("");
  }

  syncScroll() {
    this.highlight.scrollTop = this.textarea.scrollTop;
    this.highlight.scrollLeft = this.textarea.scrollLeft;
    this.gutter.scrollTop = this.textarea.scrollTop;
  }

  keydown(e) {
    const ta = this.textarea;
    if (e.key === "Tab" && !e.ctrlKey && !e.altKey) {
      e.preventDefault();
      document.execCommand("insertText", false, "    ");
    } else if (e.key === "Enter" && !e.ctrlKey && !e.altKey && !e.metaKey) {
      const start = ta.value.lastIndexOf("\n", ta.selectionStart - 1) + 1;
      const indent = /^[ \t]*/.exec(ta.value.slice(start, ta.selectionStart))[0];
      e.preventDefault();
      document.execCommand("insertText", false, "\n" + indent);
    }
  }

  // 1-based line and column of a character offset, and the reverse
  position(offset) {
    const before = this.text.slice(0, offset);
    const line = before.split("\n").length;
    return [line, offset - before.lastIndexOf("\n")];
  }

  offset(line, column) {
    const lines = this.text.split("\n");
    let at = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    return at + column - 1;
  }

  cursorMoved() {
    const [line] = this.position(this.textarea.selectionStart);
    if (line !== this.lastCursorLine) {
      this.lastCursorLine = line;
      this.onCursor(line);
    }
  }

  // Select the statement at line:column: from its first character to the end of its line.
  selectStatement(line, column) {
    const lines = this.text.split("\n");
    const text = lines[line - 1] || "";
    const first = text.length - text.trimStart().length + 1;
    const from = this.offset(line, Math.min(column, first));
    const to = this.offset(line, text.trimEnd().length + 1);
    this.reveal(line);
    this.textarea.focus({ preventScroll: true });
    this.textarea.setSelectionRange(from, to);
    this.lastCursorLine = line;
  }

  reveal(line) {
    const ta = this.textarea;
    const lh = this.lineHeight();
    const y = (line - 1) * lh;
    if (y < ta.scrollTop || y > ta.scrollTop + ta.clientHeight - 2 * lh) ta.scrollTop = Math.max(0, y - ta.clientHeight / 3);
    this.syncScroll();
  }

  lineHeight() { return parseFloat(getComputedStyle(this.textarea).lineHeight) || 18; }

  charWidth() {
    if (!this._charWidth) {
      const probe = document.createElement("span");
      probe.textContent = "x".repeat(100);
      this.highlight.appendChild(probe);
      this._charWidth = probe.getBoundingClientRect().width / 100;
      probe.remove();
    }
    return this._charWidth;
  }

  // The message and hint of an error under the mouse.
  hover(e) {
    const ta = this.textarea;
    const box = ta.getBoundingClientRect();
    const style = getComputedStyle(ta);
    const x = e.clientX - box.left + ta.scrollLeft - parseFloat(style.paddingLeft);
    const y = e.clientY - box.top + ta.scrollTop - parseFloat(style.paddingTop);
    const line = Math.floor(y / this.lineHeight()) + 1;
    const column = Math.floor(x / this.charWidth()) + 1;
    const hit = this.errors.find((err) => err.range[0] === line && column >= err.range[1] && column < Math.max(err.range[2], err.range[1] + 1));
    if (!hit) { this.tooltip.hidden = true; return; }
    const what = hit.severity === "warning" ? "warning" : `error[${hit.code}]`;
    this.tooltip.textContent = `${what}: ${hit.message}` + (hit.hint ? `\nhint: ${hit.hint}` : "");
    const outer = this.code.parentElement.getBoundingClientRect();
    this.tooltip.style.left = `${e.clientX - outer.left + 12}px`;
    this.tooltip.style.top = `${e.clientY - outer.top + 16}px`;
    this.tooltip.hidden = false;
  }
}

window.CnnEditor = Editor;
