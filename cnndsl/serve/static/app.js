// The page of cnndsl serve: the file list, the editor, and the analysis the server sends back over a
// WebSocket a moment (DEBOUNCE_MS) after each change: errors, the diagram, the summary.
"use strict";

const DEBOUNCE_MS = 120;
const $ = (id) => document.getElementById(id);

const page = {
  path: null,       // the open file, relative to the served folder
  token: null,      // what the file on disk held when it was loaded (a save must present it)
  network: null,    // the network drawn
  dirty: false,
  sent: 0,          // the id of the last text sent, and of the last analysis shown
  shown: 0,
  links: {},        // DOT node id -> {at: [line, column], lines: [...]}
  socket: null,
  timer: null,
};
let editor = null;

function status(text, kind = "") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

async function api(url, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(url, options);
  return response;
}

async function errorOf(response) {
  try { return (await response.json()).error || response.statusText; } catch { return response.statusText; }
}

// --- files ----------------------------------------------------------------------------------------------

function showFiles(files) {
  const nav = $("files");
  nav.innerHTML = "";
  for (const f of files) {
    const item = document.createElement("div");
    item.className = "file";
    item.textContent = f.path;
    item.dataset.path = f.path;
    item.onclick = () => openFile(f.path, null);
    nav.appendChild(item);
    for (const name of f.networks) {
      const sub = document.createElement("div");
      sub.className = "network";
      sub.textContent = name;
      sub.dataset.path = f.path;
      sub.dataset.network = name;
      sub.onclick = () => openFile(f.path, name);
      nav.appendChild(sub);
    }
  }
}

function markCurrent() {
  for (const el of $("files").children) {
    const same = el.dataset.path === page.path;
    el.classList.toggle("current", same && (el.dataset.network ? el.dataset.network === page.network : !page.network));
  }
}

async function openFile(path, network, reload = false) {
  if (path === page.path && !reload) {
    page.network = network;
    markCurrent();
    analyseNow();
    return;
  }
  if (page.dirty && !confirm(`Discard the unsaved changes to ${page.path}?`)) return;
  const response = await api(`/api/file?path=${encodeURIComponent(path)}`);
  if (!response.ok) { status(await errorOf(response), "bad"); return; }
  const file = await response.json();
  Object.assign(page, { path: file.path, token: file.token, network, dirty: false, links: {} });
  $("filename").textContent = file.path;
  history.replaceState(null, "", `?file=${encodeURIComponent(file.path)}`);
  editor.setText(file.text);
  $("diagram").innerHTML = "";
  $("summary").innerHTML = "";
  $("totals").textContent = "";
  status("");
  markCurrent();
  analyseNow();
}

// --- analysis -------------------------------------------------------------------------------------------

function options() {
  const depth = $("depth").value.trim();
  return {
    detail: $("detail").value || null,
    depth: depth === "" ? null : parseInt(depth, 10),
    expand: $("expand").value.split(/[\s,]+/).filter(Boolean),
    rf: $("rf").checked,
  };
}

function analyseSoon() {
  clearTimeout(page.timer);
  document.body.dataset.pending = "1";  // a text typed and not sent yet
  page.timer = setTimeout(analyseNow, DEBOUNCE_MS);
}

function analyseNow() {
  clearTimeout(page.timer);
  delete document.body.dataset.pending;
  if (!page.path || !page.socket || page.socket.readyState !== WebSocket.OPEN) return;
  page.sent += 1;
  document.body.dataset.sent = page.sent;
  page.socket.send(JSON.stringify({
    id: page.sent, path: page.path, text: editor.text, network: page.network, options: options(),
  }));
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.onopen = () => {
    page.socket = socket;
    if ($("status").textContent.startsWith("disconnected")) status("");
    analyseNow();
  };
  socket.onmessage = (event) => show(JSON.parse(event.data));
  socket.onclose = () => {
    page.socket = null;
    status("disconnected from cnndsl serve; reconnecting…", "bad");
    setTimeout(connect, 1000);
  };
}

function show(result) {
  if (result.id !== undefined && result.id !== null && result.id < page.shown) return;  // an older text's
  page.shown = result.id || page.shown;
  document.body.dataset.shown = page.shown;
  if (result.refused) { status(result.refused, "bad"); return; }
  showErrors(result.errors || [], result.warnings || []);
  showNetworks(result.networks || [], result.network);
  const diagram = $("diagram");
  $("diagram-message").textContent = result.diagram_error || "";
  if (result.diagram) {
    diagram.innerHTML = result.diagram;
    page.links = result.links || {};
    bindDiagram();
  }
  const broken = !result.summary;
  diagram.classList.toggle("stale", broken);
  document.body.dataset.state = broken ? "errors" : "ok";
  if (result.summary) showSummary(result.summary);
  else $("totals").textContent = `${result.network || "no network"}: not drawn while the text has errors`;
  pickNodes(editor.lastCursorLine);
}

function showErrors(errors, warnings) {
  editor.setErrors([...errors, ...warnings].filter((e) => e.here));
  const list = $("errors");
  list.innerHTML = "";
  for (const e of [...errors, ...warnings]) {
    const li = document.createElement("li");
    li.className = e.severity;
    const where = e.line ? `${e.path}:${e.line}:${e.column}` : e.path;
    li.innerHTML = `<span class="code"></span> <span class="where"></span> <span class="message"></span>`
      + (e.hint ? ` <span class="hint"></span>` : "");
    li.querySelector(".code").textContent = e.severity === "warning" ? "warning" : `error[${e.code}]`;
    li.querySelector(".where").textContent = where;
    li.querySelector(".message").textContent = e.message;
    if (e.hint) li.querySelector(".hint").textContent = `— hint: ${e.hint}`;
    if (e.here && e.line) li.onclick = () => editor.selectStatement(e.line, e.column);
    list.appendChild(li);
  }
  // counted apart from #status, which says what happened to a save: an analysis must not overwrite that
  const count = (n, what) => (n ? `${n} ${what}${n > 1 ? "s" : ""}` : "");
  $("problems").textContent = [count(errors.length, "error"), count(warnings.length, "warning")].filter(Boolean).join(", ");
}

function showNetworks(names, current) {
  const select = $("network");
  const same = select.options.length === names.length && names.every((n, i) => select.options[i].value === n);
  if (!same) {
    select.innerHTML = "";
    for (const name of names) select.add(new Option(name, name));
  }
  if (current) select.value = current;
}

function showSummary(s) {
  const fmt = (n) => (n === null || n === undefined ? "?" : Number(n).toLocaleString("en"));
  $("totals").textContent = `${s.network}: ${fmt(s.params)} params · ${fmt(s.macs)} MACs`;
  const rf = s.rows.length && s.rows[0].length > 7;
  const head = ["layer", "op", "output", "params", "MACs", "connected to", ...(rf ? ["RF", "jump", "padding"] : [])];
  const table = document.createElement("table");
  const tr = table.createTHead().insertRow();
  for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  const body = table.createTBody();
  s.rows.forEach((row, k) => {
    const r = body.insertRow();
    const at = s.at[k];
    if (at) r.onclick = () => { editor.selectStatement(at[0], at[1]); pickNodes(at[0]); };
    row.slice(1).forEach((value, i) => {
      const td = r.insertCell();
      td.textContent = i === 0 ? "  ".repeat(row[0]) + value : value;
      if (i === 3 || i === 4) td.className = "num";
    });
  });
  const box = $("summary");
  box.innerHTML = "";
  box.appendChild(table);
  const totals = document.createElement("pre");
  totals.textContent = (s.more ? `… and ${s.more.toLocaleString("en")} more rows\n` : "") + s.totals.join("\n");
  box.appendChild(totals);
}

// --- diagram <-> source -----------------------------------------------------------------------------------

function bindDiagram() {
  for (const g of $("diagram").querySelectorAll("g.node")) {
    const title = g.querySelector("title");
    const key = title ? title.textContent : "";
    g.dataset.key = key;
    const link = page.links[key];
    if (!link || !link.at) continue;
    g.addEventListener("click", (e) => {
      e.preventDefault();
      editor.selectStatement(link.at[0], link.at[1]);
      pickNodes(link.at[0]);
    });
  }
}

function pickNodes(line) {
  let first = null;
  for (const g of $("diagram").querySelectorAll("g.node")) {
    const link = page.links[g.dataset.key];
    const hit = Boolean(line && link && link.lines.includes(line));
    g.classList.toggle("picked", hit);
    if (hit && !first) first = g;
  }
  return first;
}

// --- save and downloads ---------------------------------------------------------------------------------

async function save() {
  if (!page.path) return;
  const response = await api("/api/save", { path: page.path, text: editor.text, token: page.token });
  if (!response.ok) { status(await errorOf(response), "bad"); return; }
  page.token = (await response.json()).token;
  page.dirty = false;
  status(`saved ${page.path}`, "good");
  showFiles((await (await api("/api/files")).json()).files);  // its networks may have changed
  markCurrent();
}

// The file as it is on disk now (after a save was refused because it changed there).
function reload() {
  if (page.path) openFile(page.path, page.network, true);
}

async function download(format) {
  const response = await api("/api/download", {
    path: page.path, text: editor.text, network: page.network, format, options: options(),
  });
  if (!response.ok) { status(await errorOf(response), "bad"); return; }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name ? name[1] : `network.${format}`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// --- start ------------------------------------------------------------------------------------------------

async function start() {
  const response = await api("/api/files");
  const listing = await response.json();
  $("folder").textContent = `${listing.root}/`;
  editor = window.cnnEditor = new window.CnnEditor(document, listing.lexicon);
  editor.onChange = () => {
    if (!page.dirty) status("unsaved changes");
    page.dirty = true;
    analyseSoon();
  };
  editor.onCursor = (line) => {
    const node = pickNodes(line);
    if (node) node.scrollIntoView({ block: "nearest", inline: "nearest" });
  };
  showFiles(listing.files);
  for (const format of listing.downloads) {
    const button = document.createElement("button");
    button.textContent = { torch: "PyTorch", keras: "Keras", onnx: "ONNX", svg: "SVG", png: "PNG" }[format] || format;
    button.dataset.format = format;
    button.title = `download the ${button.textContent} of the network`;
    button.onclick = () => download(format);
    $("downloads").appendChild(button);
  }
  $("save").onclick = save;
  $("reload").onclick = reload;
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
  });
  $("network").onchange = () => { page.network = $("network").value; markCurrent(); analyseNow(); };
  for (const id of ["detail", "rf"]) $(id).onchange = analyseNow;
  for (const id of ["depth", "expand"]) $(id).oninput = analyseSoon;
  window.addEventListener("beforeunload", (e) => { if (page.dirty) e.preventDefault(); });
  connect();
  const asked = new URLSearchParams(location.search).get("file") || listing.initial;
  const first = listing.files.find((f) => f.path === asked) || listing.files[0];
  if (first) await openFile(first.path, null);
  document.body.dataset.ready = "1";
}

start();
