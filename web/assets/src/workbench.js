// The designer workbench: a process definition in CodeMirror, checked by the server while the
// designer types (POST /api/definitions/validate, 400 ms after the last key), with each
// problem at its line and column, the valid draft's diagram beside it, and "Gem kladde"
// keeping it as the next version of the designer's draft (POST /api/drafts). Beside it: each
// manual state's form as the caseworker will see it, the package's scenarios (and one typed
// here) run against the draft, and the saved draft compared with what is deployed, then
// deployed (admins) or asked for (designers). Bundled by esbuild during set-up
// (`npm run build`); mermaid is loaded from the assets as the other pages do.

import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting } from "@codemirror/lint";
import { schemaAssistance } from "./schema.js";

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

// What to tell the designer when a request failed: signed out, or try again (`key`: what
// was not done; the check by default).
function failure(status, key = "textUnchecked") {
  return status === 401 ? text("textSignedOut") : text(key);
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
      if (d.explain) {
        item.title = d.explain;
        item.append(el("br"), el("span", d.explain, "muted"));
      }
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
        // The problem, how to fix it, and what its code means (`forlob validate --explain`).
        message: [d.message, d.hint, d.explain && `[${d.code}] ${d.explain}`].filter(Boolean).join("\n"),
        source: d.code,
      };
    });
  },
  { delay: 400 },
);

// The saved draft compare and deploy work on; the editor's text differs from it once typed in.
let draftId = root.dataset.draft ? Number(root.dataset.draft) : null;
let dirty = false;

// What the page says of the saved draft: whose, which version, and where it stands.
const draftState = document.getElementById("workbench-draft-state");
let draftHead = draftId === null ? null : { ...draftState.dataset };
function tellDraft(status) {
  if (draftHead) {
    const said = say("textDraftOf", draftHead);
    draftState.textContent = status ? `${said}: ${status}` : said;
  }
}

// The format's JSON Schema, for completion and hover once it has come.
let schema = null;
fetch("/api/definitions/schema", { credentials: "same-origin" })
  .then((answer) => (answer.ok ? answer.json() : null))
  .then((found) => {
    schema = found;
  })
  .catch(() => {});

const view = new EditorView({
  doc: source.value,
  extensions: [
    basicSetup,
    EditorView.updateListener.of((update) => {
      if (update.docChanged) {
        dirty = true;
      }
    }),
    yaml(),
    schemaAssistance(() => schema),
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
  // What is typed while the save is on its way is not in the saved draft.
  const sent = view.state.doc;
  const files = [{ path: `${process}.yaml`, text: sent.toString() }];
  const { ok, status: code, json } = await post("/api/drafts", { process, files, note });
  saveButton.disabled = false;
  if (ok) {
    draftId = json.id;
    dirty = view.state.doc !== sent;
    draftHead = { process: json.process, version: json.version, author: json.author };
    tellDraft("");
  }
  saved.className = ok ? "flash ok" : "flash error";
  saved.textContent = ok
    ? text("textSaved").replace("{version}", json.version)
    : code === 422
      ? text("textNotSaved")
      : failure(code, "textNotDone");
});

// An element with text, for building results without HTML strings.
function el(tag, content, className) {
  const made = document.createElement(tag);
  if (content !== undefined && content !== null) {
    made.textContent = String(content);
  }
  if (className) {
    made.className = className;
  }
  return made;
}

function say(key, values) {
  let said = text(key);
  for (const [name, value] of Object.entries(values ?? {})) {
    said = said.replace(`{${name}}`, value);
  }
  return said;
}

// A part of a scenario (`given`, `step 3`, `settle`, `expect`, `file`, `start`, `time`) in
// the page's language.
function part(name) {
  const [kind, n] = name.split(" ");
  const key = `textPart${kind[0].toUpperCase()}${kind.slice(1)}`;
  return root.dataset[key] ? say(key, { n }) : name;
}

// One scenario's result: passed or failed, and for a failure where, why, and what ran.
function result(r) {
  const item = el("li", null, r.passed ? "passed" : "failed");
  item.dataset.path = r.path;
  item.append(el("strong", r.passed ? text("textPassed") : text("textFailed")), " ", r.name);
  if (r.passed) {
    return item;
  }
  const details = el("details");
  details.open = true;
  details.append(el("summary", `${text("textFailedAt")}: ${part(r.failed_at)}`));
  details.append(el("pre", r.failure, "failure"));
  if (r.timeline.length) {
    details.append(el("h4", text("textTimeline")));
    const list = el("ol", null, "timeline");
    for (const moment of r.timeline) {
      const line = el("li", null, moment.failure ? "failed" : "");
      line.append(el("strong", part(moment.part)), " ", el("code", moment.what, "muted"));
      const moves = el("ul");
      for (const t of moment.transitions) {
        moves.append(el("li", `${t.process} ${t.subject}: ${t.from ?? "·"} → ${t.to} (${t.trigger})`));
      }
      if (moment.left_out) {
        moves.append(el("li", say("textMore", { n: moment.left_out }), "muted"));
      }
      line.append(moves);
      list.append(line);
    }
    details.append(list);
  }
  item.append(details);
  return item;
}

function draftFiles() {
  return [{ path: `${process}.yaml`, text: view.state.doc.toString() }];
}

const runStatus = document.getElementById("workbench-run-status");
const results = document.getElementById("workbench-results");
const runPackage = document.getElementById("workbench-run-package");

// The package's scenarios, one request each, so the designer sees progress and each result
// as it comes.
runPackage.addEventListener("click", async () => {
  runPackage.disabled = true;
  results.replaceChildren();
  runStatus.className = "flash";
  runStatus.textContent = say("textRunning", { n: "…", total: "…" });
  const listed = await fetch(`/api/definitions/scenarios?process=${encodeURIComponent(process)}`, {
    credentials: "same-origin",
  }).catch(() => null);
  const scenarios = listed?.ok ? (await listed.json()).scenarios : null;
  if (!scenarios) {
    runStatus.textContent = failure(listed?.status ?? 0, "textNotDone");
    runPackage.disabled = false;
    return;
  }
  if (!scenarios.length) {
    runStatus.textContent = text("textNoScenarios");
    runPackage.disabled = false;
    return;
  }
  let [passed, failed] = [0, 0];
  // One text for the whole run, though the designer types on meanwhile.
  const files = draftFiles();
  for (const [i, scenario] of scenarios.entries()) {
    runStatus.textContent = say("textRunning", { n: i + 1, total: scenarios.length });
    const { ok, status: code, json } = await post("/api/definitions/test", {
      files,
      shipped: [scenario.path],
    });
    if (!ok) {
      runStatus.textContent = failure(code, "textNotDone");
      runStatus.className = "flash warn";
      runPackage.disabled = false;
      return;
    }
    if (!json.validation.valid) {
      runStatus.textContent = text("textDraftInvalid");
      runStatus.className = "flash error";
      runPackage.disabled = false;
      return;
    }
    for (const r of json.results) {
      results.append(result(r));
      r.passed ? (passed += 1) : (failed += 1);
    }
  }
  runStatus.textContent = say("textRan", { passed, failed });
  runStatus.className = failed ? "flash error" : "flash ok";
  runPackage.disabled = false;
});

const ownResult = document.getElementById("workbench-own-result");
document.getElementById("workbench-run-own").addEventListener("click", async (event) => {
  event.target.disabled = true;
  const own = document.getElementById("workbench-own").value;
  const { ok, status: code, json } = await post("/api/definitions/test", {
    files: draftFiles(),
    scenarios: [{ path: "scenarios/eget.yaml", text: own }],
  });
  event.target.disabled = false;
  if (!ok) {
    ownResult.replaceChildren(el("li", failure(code, "textNotDone"), "failed"));
  } else if (!json.validation.valid) {
    ownResult.replaceChildren(el("li", text("textDraftInvalid"), "failed"));
  } else {
    ownResult.replaceChildren(...json.results.map(result));
  }
});

// Compare and deploy work on the saved draft: a changed editor is saved first.
const comparison = document.getElementById("workbench-comparison");

const deployed = document.getElementById("workbench-deployed");

function savedDraft() {
  if (draftId === null || dirty) {
    deployed.textContent = text("textSaveFirst");
    deployed.className = "flash warn";
    return null;
  }
  return draftId;
}

function table(head, rows) {
  const made = el("table");
  const top = el("tr");
  for (const h of head) {
    const cell = el("th", h);
    cell.scope = "col";
    top.append(cell);
  }
  made.append(el("thead"));
  made.tHead.append(top);
  const body = el("tbody");
  for (const row of rows) {
    const line = el("tr");
    for (const cell of row) {
      line.append(el("td", cell));
    }
    body.append(line);
  }
  made.append(body);
  const scroll = el("div", null, "scroll");
  scroll.append(made);
  return scroll;
}

function showComparison(json) {
  const parts = [];
  for (const d of json.definitions) {
    parts.push(el("h3", `${d.process} v${d.version}`));
    if (!d.changed) {
      parts.push(el("p", text("textUnchanged"), "muted"));
      continue;
    }
    parts.push(el("h4", text("textStates")));
    const states = el("ul", null, "state-changes");
    for (const c of d.states) {
      const item = el("li", null, `change-${c.change}`);
      item.append(el("code", c.state), " ", text(`textChange${c.change[0].toUpperCase()}${c.change.slice(1)}`));
      states.append(item);
    }
    parts.push(states);
    parts.push(el("h4", text("textInFlight")));
    if (d.in_flight.length) {
      parts.push(
        table(
          ["colVersion", "colState", "colInstances", "colTasks", "colTimers", "colKept"].map((k) =>
            text(`text${k[0].toUpperCase()}${k.slice(1)}`),
          ),
          d.in_flight.map((g) => [
            `${g.process} v${g.version}`,
            g.state,
            g.instances,
            g.open_tasks,
            g.timers,
            g.in_new_version ? "✓" : "✗",
          ]),
        ),
      );
    } else {
      parts.push(el("p", text("textNoInFlight"), "muted"));
    }
    if (d.lost_states.length) {
      parts.push(el("p", say("textLost", { states: d.lost_states.join(", ") }), "flash warn"));
    }
    parts.push(el("h4", text("textDiff")));
    const diff = el("pre", null, "diff");
    for (const line of d.diff.split("\n")) {
      const kind = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      diff.append(el("span", `${line}\n`, kind));
    }
    parts.push(diff);
  }
  comparison.replaceChildren(...parts);
}

document.getElementById("workbench-compare").addEventListener("click", async () => {
  const id = savedDraft();
  if (id === null) {
    return;
  }
  try {
    const answer = await fetch(`/api/drafts/${id}/compare`, { credentials: "same-origin" });
    const json = await answer.json();
    if (!answer.ok) {
      comparison.textContent = failure(answer.status, "textNotDone");
    } else if (!json.validation.valid) {
      comparison.textContent = text("textDraftInvalid");
    } else {
      showComparison(json);
    }
  } catch {
    comparison.textContent = failure(0, "textNotDone");
  }
});

document.getElementById("workbench-ask")?.addEventListener("click", async (event) => {
  const id = savedDraft();
  if (id === null) {
    return;
  }
  event.target.disabled = true;
  const { ok, status: code, json } = await post(`/api/drafts/${id}/ask-deploy`, {});
  event.target.disabled = false;
  deployed.className = ok ? "flash ok" : "flash error";
  deployed.textContent = ok
    ? text("textAsked")
    : code === 409
      ? text("textAlreadyDeployed")
      : code === 422
        ? text("textDraftInvalid")
        : failure(code, "textNotDone");
  if (ok) {
    tellDraft(text("textWaiting"));
  }
});

// Deploy (admins): the layout's confirmation dialog asks first and for the reason, then
// sends the form again with `confirmed`; that is when the draft is deployed. A refusal for
// failing scenarios shows them and turns the button into "deploy anyway", which asks again.
const deployForm = document.getElementById("workbench-deploy-form");
const confirmDeploy = deployForm?.dataset.confirm;
// The draft whose failing scenarios the admin has seen: only its deploy may override them.
let overrides = null;
deployForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = savedDraft();
  if (id === null) {
    // Nothing to deploy yet: the confirmation is not asked for.
    event.stopPropagation();
    return;
  }
  if (overrides !== id) {
    deployForm.dataset.confirm = confirmDeploy;
    document.getElementById("workbench-deploy").textContent = deployForm.dataset.label;
  }
  if (deployForm.elements.namedItem("confirmed")?.value !== "1") {
    return;
  }
  const button = document.getElementById("workbench-deploy");
  button.disabled = true;
  deployed.className = "flash";
  deployed.textContent = text("textDeploying");
  const reason = deployForm.elements.namedItem("reason").value;
  const { ok, status: code, json } = await post(`/api/drafts/${id}/deploy`, {
    reason,
    override_failing_scenarios: overrides === id,
  });
  button.disabled = false;
  if (ok) {
    results.replaceChildren(...json.test.results.map(result));
    deployed.className = "flash ok";
    deployed.textContent = say("textDeployed", {
      versions: json.deployed.map((d) => `${d.process} v${d.version}`).join(", "),
    });
    button.hidden = true;
    tellDraft(deployed.textContent);
  } else if (code === 409 && json.error === "scenarios_fail") {
    results.replaceChildren(...json.details.results.map(result));
    overrides = id;
    deployForm.dataset.confirm = deployForm.dataset.override.replace("{failed}", json.details.failed);
    button.textContent = deployForm.dataset.overrideLabel;
    deployed.className = "flash error";
    deployed.textContent = say("textRefused", { failed: json.details.failed });
  } else {
    deployed.className = "flash error";
    deployed.textContent =
      code === 409
        ? json.error === "draft_outdated"
          ? text("textUndoes")
          : text("textAlreadyDeployed")
        : code === 422
          ? text("textDraftInvalid")
          : code === 503 || code === 0
            ? text("textDeployUnknown")
            : failure(code, "textNotDone");
  }
});
