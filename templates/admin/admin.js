// Refreshes an edition's ledger counts while its send runs. The page works without it.
(function () {
  "use strict";
  const table = document.querySelector("table[data-ledger-url]");
  if (!table || table.dataset.running !== "true") return;
  const note = document.querySelector("[data-ledger-note]");
  async function refresh() {
    try {
      const answer = await fetch(table.dataset.ledgerUrl, { credentials: "same-origin" });
      if (!answer.ok) return;
      const found = await answer.json();
      for (const [status, count] of Object.entries(found.ledger)) {
        const cell = table.querySelector('td[data-status="' + status + '"]');
        if (cell && cell.textContent !== String(count)) cell.textContent = String(count);
      }
      if (!found.running) {
        if (note) note.textContent = "The send has finished.";
        return;
      }
    } catch (error) {
      // A network blip: try again at the next tick.
    }
    setTimeout(refresh, 1000);
  }
  setTimeout(refresh, 1000);
})();
