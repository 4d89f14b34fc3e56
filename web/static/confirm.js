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

  dialog.addEventListener("close", () => {
    const chosen = pending;
    pending = null;
    if (!chosen || dialog.returnValue !== "confirm") {
      chosen?.button?.focus();
      return;
    }
    const { form, button } = chosen;
    field(form, "reason").value = reason.value.trim();
    field(form, "confirmed").value = "1";
    form.dataset.confirmed = "1";
    form.requestSubmit(button ?? undefined);
  });
}
