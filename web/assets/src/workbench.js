// The designer workbench: a process definition in CodeMirror, checked by the server while the
// designer types (POST /api/definitions/validate, 400 ms after the last key), with each
// problem at its line and column, the valid draft's diagram beside it, and "Gem kladde"
// keeping it as the next version of the designer's draft (POST /api/drafts). Bundled by
// esbuild during set-up (`npm run build`); mermaid is loaded from the assets as the other
// pages do.

import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";

const root = document.getElementById("workbench");
const source = document.getElementById("workbench-source");
const csrf = root.dataset.csrf;
const problems = document.getElementById("workbench-problems");
const status = document.getElementById("workbench-status");
const diagram = document.getElementById("workbench-diagram");
const saved = document.getElementById("workbench-saved");
const saveButton = document.getElementById("workbench-save");
const text = (name) => root.dataset[name];

// The process the draft is of: the page's, until a valid draft names another id.
let process = root.dataset.process;

// A JSON request; a network failure or an answer that is not JSON is `{ ok: false }`.
async function post(url, body) {
  try {
    const answer = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const json = await answer.json().catch(() => ({}));
    return { ok: answer.ok, status: answer.status, json };
  } catch {
    return { ok: false, status: 0, json: {} };
  }
}

// What to tell the designer when a request failed: signed out, or try again.
function failure(status) {
  return status === 401 ? text("textSignedOut") : text("textUnchecked");
}

let mermaid = null;
let drawn = 0;
async function draw(graph) {
  try {
    mermaid ??= (await import("/assets/mermaid/dist/mermaid.esm.min.mjs")).default;
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    drawn += 1;
    const { svg } = await mermaid.render(`workbench-graph-${drawn}`, graph);
    diagram.innerHTML = svg;
    diagram.dataset.drawn = String(drawn);
  } catch {
    diagram.textContent = text("textNoDiagram");
  }
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
  const said = found.length ? text("textInvalid").replace("{n}", found.length) : text("textValid");
  // Said again only when it changed: a screen reader is not told the same after every pause.
  if (status.textContent !== said) {
    status.textContent = said;
  }
  status.className = found.length ? "flash error" : "flash ok";
}

const check = linter(
  async (view) => {
    const doc = view.state.doc;
    const { ok, status: code, json } = await post("/api/definitions/validate", {
      files: [{ path: `${process}.yaml`, text: doc.toString() }],
    });
    // A newer check is on its way: this answer is about text that is gone.
    if (view.state.doc !== doc) {
      return [];
    }
    if (!ok) {
      status.textContent = failure(code);
      status.className = "flash warn";
      return [];
    }
    const found = json.diagnostics;
    show(found);
    if (json.valid && json.processes.length) {
      process = json.processes[0].id;
      draw(json.processes[0].diagram);
      offerForms(json.processes[0].forms);
    } else {
      // The diagram of an invalid draft would be of text that is no longer there.
      diagram.textContent = text("textNoDiagram");
    }
    return found.map((d) => {
      const from = offset(doc, d.line, d.column);
      // The rest of the word the problem starts at, at least one character.
      const line = doc.lineAt(from);
      const word = /^[\w-]*/.exec(line.text.slice(from - line.from))[0].length;
      return {
        from,
        to: Math.min(from + Math.max(word, 1), line.to),
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
  extensions: [
    basicSetup,
    yaml(),
    lintGutter(),
    check,
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ "aria-labelledby": "editor-title" }),
  ],
  parent: document.getElementById("workbench-editor"),
});
source.hidden = true;
forceLinting(view);

// The draft's forms, as the caseworker will see them: the states that ask one are offered,
// and the chosen one is rendered by the server (the same renderer as the task page), its
// values tried as a submit would check them.
const stateSelect = document.getElementById("workbench-state");
const preview = document.getElementById("workbench-form-preview");

function offerForms(states) {
  const chosen = stateSelect.value;
  stateSelect.replaceChildren(
    ...states.map((state) => {
      const option = document.createElement("option");
      option.value = state;
      option.textContent = state;
      option.selected = state === chosen;
      return option;
    }),
  );
  if (!states.length) {
    preview.textContent = stateSelect.dataset.none;
  }
}

async function showForm(values) {
  const body = new URLSearchParams({
    text: view.state.doc.toString(),
    process,
    state: stateSelect.value,
  });
  if (values) {
    body.set("try", "1");
    for (const [name, value] of values) {
      body.append(`v.${name}`, value);
    }
  }
  try {
    const answer = await fetch("/designer/workbench/form", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf },
      body,
      credentials: "same-origin",
    });
    if (answer.ok) {
      // Our own server-rendered, escaped fragment.
      preview.innerHTML = await answer.text();
    } else {
      preview.textContent = failure(answer.status);
    }
  } catch {
    preview.textContent = failure(0);
  }
}

document.getElementById("workbench-show-form").addEventListener("click", () => showForm(null));
preview.addEventListener("submit", (event) => {
  event.preventDefault();
  showForm(new FormData(event.target));
});

saveButton.addEventListener("click", async () => {
  saveButton.disabled = true;
  const note = document.getElementById("workbench-note").value;
  const files = [{ path: `${process}.yaml`, text: view.state.doc.toString() }];
  const { ok, status: code, json } = await post("/api/drafts", { process, files, note });
  saveButton.disabled = false;
  saved.className = ok ? "flash ok" : "flash error";
  saved.textContent = ok
    ? text("textSaved").replace("{version}", json.version)
    : code === 422
      ? text("textNotSaved")
      : failure(code);
});
