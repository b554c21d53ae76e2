// The agent form, enhanced: a recommendation's "Use" links fill the picker in place (without reloading, so what was
// typed stays) and say so in a live region; a refused form moves the focus to its list of problems. Without this
// script the links reload the page with the models in the URL.
(function () {
  "use strict";
  const form = document.getElementById("agent-form");
  if (!form) return;
  const status = document.getElementById("apply-status");
  const primary = document.getElementById("primary-model");
  const fallbacks = [...form.querySelectorAll('select[name^="fallback_"]')];

  function hasOption(select, value) {
    return [...select.options].some((option) => option.value === value);
  }

  function choosePolicy(value) {
    const radio = document.getElementById("policy-" + value);
    if (radio) radio.checked = true;
  }

  function apply(models) {
    const usable = models.filter((value) => hasOption(primary, value));
    if (!usable.length) return false;
    primary.value = usable[0];
    if (usable.length > 1) {
      fallbacks.forEach((select, index) => {
        select.value = usable[index + 1] && hasOption(select, usable[index + 1]) ? usable[index + 1] : "";
      });
    } else {
      // The new primary cannot also be a fallback.
      fallbacks.forEach((select) => { if (select.value === usable[0]) select.value = ""; });
    }
    choosePolicy("explicit");
    if (status) {
      status.textContent = "Applied: " + usable.join(", ") + ". Nothing is saved until you submit the form.";
    }
    primary.focus();
    return true;
  }

  document.querySelectorAll("[data-apply-primary]").forEach((link) => {
    link.addEventListener("click", (event) => {
      if (apply([link.dataset.applyPrimary])) event.preventDefault();
    });
  });
  const applyAll = document.querySelector("[data-apply-all]");
  if (applyAll) {
    applyAll.addEventListener("click", (event) => {
      const models = [...document.querySelectorAll("[data-apply-primary]")].map((link) => link.dataset.applyPrimary);
      if (apply(models)) event.preventDefault();
    });
  }

  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
