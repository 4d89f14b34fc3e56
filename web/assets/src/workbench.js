// The designer workbench: a process definition in CodeMirror, checked by the server while the
// designer types (POST /api/definitions/validate, 400 ms after the last key), with each
// problem at its line and column, the draft's diagram beside it, and "Gem kladde" keeping
// it as the next version of the designer's draft (POST /api/drafts). Bundled by esbuild
// during set-up (`npm run build`); mermaid is loaded from the assets as the other pages do.

import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";

const root = document.getElementById("workbench");
const source = document.getElementById("workbench-source");
const path = root.dataset.path;
const process = root.dataset.process;
const csrf = root.dataset.csrf;
const problems = document.getElementById("workbench-problems");
const status = document.getElementById("workbench-status");
const diagram = document.getElementById("workbench-diagram");
const saved = document.getElementById("workbench-saved");

async function post(url, body) {
  const answer = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const json = await answer.json().catch(() => ({}));
  return { ok: answer.ok, status: answer.status, json };
}

let mermaid = null;
let drawn = 0;
async function draw(text) {
  mermaid ??= (await import("/assets/mermaid/dist/mermaid.esm.min.mjs")).default;
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  drawn += 1;
  const { svg } = await mermaid.render(`workbench-graph-${drawn}`, text);
  diagram.innerHTML = svg;
  diagram.dataset.drawn = String(drawn);
}

// Offsets of a 1-based line and column in the document, clamped to it.
function offset(doc, line, column) {
  const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
  return Math.min(at.from + Math.max(column - 1, 0), at.to);
}

function show(found) {
  problems.replaceChildren(
    ...found.map((d) => {
      const item = document.createElement("li");
      item.textContent = `${d.line}:${d.column} ${d.message}${d.hint ? ` (${d.hint})` : ""} [${d.code}]`;
      return item;
    }),
  );
  status.textContent = found.length ? root.dataset.textInvalid.replace("{n}", found.length) : root.dataset.textValid;
  status.className = found.length ? "flash error" : "flash ok";
}

const check = linter(
  async (view) => {
    const text = view.state.doc.toString();
    const { ok, json } = await post("/api/definitions/validate", { files: [{ path, text }] });
    if (!ok) {
      status.textContent = root.dataset.textUnchecked;
      status.className = "flash warn";
      return [];
    }
    // Only this file's problems are shown here; a draft is one file.
    const found = json.diagnostics.filter((d) => d.path === path);
    show(found);
    if (json.valid && json.processes.length) {
      await draw(json.processes[0].diagram);
    }
    return found.map((d) => {
      const from = offset(view.state.doc, d.line, d.column);
      const to = Math.min(view.state.doc.lineAt(from).to, from + 1) || from;
      return {
        from,
        to: Math.max(to, from),
        severity: "error",
        message: d.hint ? `${d.message}\n${d.hint}` : d.message,
        source: d.code,
      };
    });
  },
  { delay: 400 },
);

const view = new EditorView({
  doc: source.value,
  extensions: [basicSetup, yaml(), lintGutter(), check, EditorView.lineWrapping],
  parent: document.getElementById("workbench-editor"),
});
source.hidden = true;
forceLinting(view);

document.getElementById("workbench-save").addEventListener("click", async () => {
  const note = document.getElementById("workbench-note").value;
  const text = view.state.doc.toString();
  const { ok, json } = await post("/api/drafts", { process, files: [{ path, text }], note });
  saved.className = ok ? "flash ok" : "flash error";
  saved.textContent = ok
    ? root.dataset.textSaved.replace("{version}", json.version)
    : root.dataset.textNotSaved.replace("{why}", Object.values(json.errors ?? {}).join("; ") || json.message || "");
});
