// The catalog pages' enhancements; every page works without them.
// The cost calculator on a model's page updates as you type. Without JavaScript its form is submitted and the
// server computes the same figure (apps/catalog/insights.py volume_cost): every token at the model's price per token,
// rounded half-even to 10 decimals like a usage record, then shown as apps/catalog/page_figures.py usd_text does.
// The arithmetic is exact (BigInt in units of 1e-15 dollars), so the page never disagrees with the server.
(function () {
  "use strict";

  var PRICE_PLACES = 15;

  function units(decimalText) {
    // "0.00000015" -> 150000000n (units of 1e-15)
    var parts = decimalText.split(".");
    var fraction = (parts[1] || "").padEnd(PRICE_PLACES, "0").slice(0, PRICE_PLACES);
    return BigInt(parts[0] || "0") * 10n ** BigInt(PRICE_PLACES) + BigInt(fraction || "0");
  }

  function divideHalfEven(value, divisor) {
    var quotient = value / divisor;
    var twice = (value % divisor) * 2n;
    if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) quotient += 1n;
    return quotient;
  }

  function divideHalfUp(value, divisor) {
    var quotient = value / divisor;
    if ((value % divisor) * 2n >= divisor) quotient += 1n;
    return quotient;
  }

  function usdText(tenthsOfNano) {
    // tenthsOfNano: dollars in units of 1e-10
    if (tenthsOfNano === 0n) return "$0.00";
    var places = tenthsOfNano >= 10n ** 10n ? 2 : 6;
    var rounded = divideHalfUp(tenthsOfNano, 10n ** BigInt(10 - places));
    if (rounded === 0n) return "under $0.000001";
    var text = rounded.toString().padStart(places + 1, "0");
    var whole = text.slice(0, text.length - places);
    var fraction = text.slice(text.length - places).replace(/0+$/, "").padEnd(2, "0");
    return "$" + BigInt(whole).toLocaleString("en-US") + "." + fraction;
  }

  function tokens(input) {
    var text = input.value.trim();
    return /^\d+$/.test(text) ? BigInt(text) : null;
  }

  function setUp(form) {
    var output = document.querySelector("[data-figure='monthly-cost']");
    var inputField = form.querySelector("[name='input_tokens']");
    var outputField = form.querySelector("[name='output_tokens']");
    if (!output || !inputField || !outputField || form.dataset.priceKnown !== "true") return;
    var inputPrice = units(form.dataset.inputPrice);
    var outputPrice = units(form.dataset.outputPrice);

    function update() {
      var tokensIn = tokens(inputField);
      var tokensOut = tokens(outputField);
      if (tokensIn === null || tokensOut === null) {
        output.textContent = "enter whole numbers of tokens";
        return;
      }
      var cost = divideHalfEven(tokensIn * inputPrice + tokensOut * outputPrice, 100000n);
      output.textContent = usdText(cost);
    }

    inputField.addEventListener("input", update);
    outputField.addEventListener("input", update);
  }

  document.querySelectorAll("form[data-calculator]").forEach(setUp);

  // The browse filters: leave empty fields out of the URL, so a shared link says only what was chosen. The fields
  // come back when the page is shown again from the back/forward cache.
  document.querySelectorAll("form[data-filters]").forEach(function (form) {
    var fields = function () { return form.querySelectorAll("input:not([type=checkbox]), select"); };
    form.addEventListener("submit", function () {
      fields().forEach(function (field) { if (field.value.trim() === "") field.disabled = true; });
    });
    window.addEventListener("pageshow", function () {
      fields().forEach(function (field) { field.disabled = false; });
    });
  });
})();
