// Tokenises .cnn files with the extension's TextMate grammar exactly as VS Code does (vscode-textmate on
// the oniguruma WebAssembly build). Prints {file: [[line, [[start, end, scopes...], ...]], ...]} as JSON.
// Usage: node tokenize.js GRAMMAR FILE... (a FILE of "-" reads a JSON list of texts from standard input).
"use strict";
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const vsctm = require("vscode-textmate");

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.cnn");
  let texts = {};
  for (const f of files) {
    if (f === "-") {
      JSON.parse(fs.readFileSync(0, "utf8")).forEach((t, i) => (texts[`<text ${i}>`] = t));
    } else {
      texts[f] = fs.readFileSync(f, "utf8");
    }
  }
  const out = {};
  for (const [name, text] of Object.entries(texts)) {
    let state = vsctm.INITIAL;
    out[name] = text.split(/\r?\n/).map((line) => {
      const r = grammar.tokenizeLine(line, state);
      state = r.ruleStack;
      return [line, r.tokens.map((t) => [t.startIndex, t.endIndex, ...t.scopes])];
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
