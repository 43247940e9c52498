// Booking form: show the gap and NSAID window a date would give, before submitting;
// and never send the form twice (the server also refuses a second booking with one key).
(function () {
  const form = document.getElementById("booking-form");
  if (!form) return;
  const day = form.querySelector("[name=day]");
  const time = form.querySelector("[name=time]");
  const room = form.querySelector("[name=room]");
  const preview = document.getElementById("preview");

  function text(parts) {
    preview.replaceChildren();
    parts.forEach(function (part) {
      const line = document.createElement("div");
      line.textContent = part.text;
      if (part.warn) line.className = "text-danger";
      preview.appendChild(line);
    });
  }

  function update() {
    if (!day.value) return;
    const url = form.dataset.previewUrl + "?day=" + encodeURIComponent(day.value) +
      "&time=" + encodeURIComponent(time.value || "10:00") +
      (room && room.value ? "&room=" + encodeURIComponent(room.value) : "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        const parts = [];
        if (!p.gap_ok) parts.push({ warn: true, text: "Too close to another session: the earliest date from then is " + p.earliest_from_day + "." });
        parts.push({ text: "No NSAIDs from " + p.nsaid_first + " through " + p.nsaid_last + "; they may be resumed on " + p.nsaid_resume + "." });
        if (p.short_notice) parts.push({ warn: true, text: "Short notice: the NSAID pause has already begun. Record the patient's confirmation below." });
        text(parts);
      })
      .catch(function () { text([{ text: "Preview unavailable; the booking is still checked when you submit." }]); });
  }

  day.addEventListener("change", update);
  time.addEventListener("change", update);
  if (room) room.addEventListener("change", update);
  update();
  form.addEventListener("submit", function () {
    const button = document.getElementById("book-button");
    button.disabled = true;
    button.textContent = "Booking…";
  });
})();
