// The VS Code client of the cnndsl language server: starts `cnndsl lsp` (setting cnndsl.server.command)
// over standard input and output for every .cnn file (a change of the setting applies after a window reload).
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const [command, ...args] = vscode.workspace.getConfiguration("cnndsl").get("server.command", ["cnndsl", "lsp"]);
  client = new LanguageClient(
    "cnndsl",
    "cnndsl language server",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "cnn" }, { scheme: "untitled", language: "cnn" }] }
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
