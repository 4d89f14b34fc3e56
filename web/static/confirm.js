// Asks before a destructive action, on the page: a form whose submit button (or the form
// itself) has `data-confirm` opens the confirmation dialog of the layout, which names what
// will happen (`data-confirm`, and `data-confirm-about` for what it happens to) and asks
// for a reason. "No, go back" (or Escape) leaves everything as it was; confirming puts the
// reason in the form's `reason` field and `confirmed=1` beside it, and sends the form with
// the button that was pressed. The server checks both again: without this script it asks
// on a page of its own (routes/pages/confirm.rs).
const dialog = document.getElementById("confirm-dialog");

function field(form, name) {
  let input = form.elements.namedItem(name);
  if (!(input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement)) {
    input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    form.append(input);
  }
  return input;
}

// The form as it is in the page now: a region that refreshes itself (htmx) may have put a
// fresh copy of it in place while the dialog was open.
function current(form, button) {
  if (form.isConnected) {
    return { form, button };
  }
  const again = document.querySelector(`form[action="${CSS.escape(form.getAttribute("action"))}"]`);
  if (!again) {
    return null;
  }
  const name = button?.getAttribute("name");
  if (!name) {
    return { form: again, button: null };
  }
  const same = again.querySelector(
    `button[name="${CSS.escape(name)}"][value="${CSS.escape(button.value)}"]`,
  );
  // The action the admin confirmed is not offered any more: nothing is sent.
  return same ? { form: again, button: same } : null;
}

if (dialog) {
  const what = dialog.querySelector("[data-confirm-what]");
  const about = dialog.querySelector("[data-confirm-about]");
  const reason = dialog.querySelector("textarea");
  const proceed = dialog.querySelector("[data-confirm-proceed]");
  let pending = null;

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    const source = button?.dataset.confirm ? button : form;
    if (!source.dataset?.confirm || form.dataset.confirmed === "1") {
      return;
    }
    event.preventDefault();
    pending = { form, button };
    what.textContent = source.dataset.confirm;
    about.textContent = source.dataset.confirmAbout ?? "";
    about.hidden = !about.textContent;
    proceed.textContent = button?.textContent.trim() || proceed.dataset.label;
    const typed = form.elements.namedItem("reason");
    reason.value = typed && "value" in typed ? typed.value : "";
    dialog.returnValue = "";
    dialog.showModal();
    reason.focus();
  });

  // While the dialog is open, the page stays as the admin saw it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (dialog.open) {
      event.preventDefault();
    }
  });

  dialog.addEventListener("close", () => {
    const confirmedIt = dialog.returnValue === "confirm";
    const chosen = pending && current(pending.form, pending.button);
    const pressed = pending?.button;
    pending = null;
    if (confirmedIt && !chosen) {
      // The page changed meanwhile (a colleague, a finished run): say so, do nothing.
      window.alert(dialog.dataset.gone);
      return;
    }
    if (!chosen || !confirmedIt) {
      pressed?.focus();
      return;
    }
    const { form, button } = chosen;
    const confirmed = field(form, "confirmed");
    field(form, "reason").value = reason.value.trim();
    confirmed.value = "1";
    form.dataset.confirmed = "1";
    form.requestSubmit(button ?? undefined);
    // The form's data is taken as it is submitted: what made it skip the dialog is cleared
    // at once, so a page brought back by Back asks again.
    delete form.dataset.confirmed;
    confirmed.value = "";
  });

  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      for (const form of document.querySelectorAll("form")) {
        delete form.dataset.confirmed;
        const confirmed = form.elements.namedItem("confirmed");
        if (confirmed instanceof HTMLInputElement && confirmed.type === "hidden") {
          confirmed.value = "";
        }
      }
    }
  });
}
