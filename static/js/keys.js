// The Keys page's copy button: copies a new API key's secret and says so in an aria-live status.
// Without JavaScript the button stays hidden and the key sits in a read-only field, ready to select and copy.
"use strict";

document.querySelectorAll("button[data-copy-target]").forEach((button) => {
  const field = document.getElementById(button.dataset.copyTarget);
  const status = document.getElementById("copy-status");
  if (!field || !status) {
    return;
  }
  button.hidden = false;
  field.addEventListener("focus", () => field.select());
  button.addEventListener("click", async () => {
    status.textContent = "";
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = "Copied";
    } catch (error) {
      // No clipboard access (an old browser, or permission refused): leave the key selected for Ctrl+C.
      field.focus();
      field.select();
      status.textContent = "Could not copy automatically: the key is selected, press Ctrl+C (⌘C on a Mac) to copy it.";
    }
  });
});
