/* dmfrec merchant dashboard: reads /dashboard/data.json (same origin, the admin cookie) and
 * draws the figures with Chart.js (served from the app). body[data-state] ends "ready" or
 * "error". */
(function () {
  "use strict";
  var COLOURS = { dmf: "#1f77b4", popular: "#ff7f0e", magento: "#2ca02c" };

  function text(id, value) { document.getElementById(id).textContent = value; }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 120) return Math.round(seconds) + " s ago";
    if (seconds < 7200) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function gate(version) {
    if (!version) return "none yet";
    var g = version.gate, out = version.version + " (" + version.status + ")";
    if (g) {
      out += ": " + g.metric + " " + (g.candidate === null ? "-" : g.candidate.toFixed(4)) +
        " vs " + (g.active === null ? "-" : g.active.toFixed(4));
    }
    return out;
  }

  // An experiment's arm ("ab/dmf") apart from the same list served outside any ("popular").
  function label(d) { return d.experiment ? d.experiment + "/" + d.arm : d.arm; }

  function series(days, arms, field) {
    var labels = Array.from(new Set(days.map(function (d) { return d.day; }))).sort();
    var datasets = arms.map(function (arm) {
      var colour = COLOURS[arm.split("/").pop()] || "#777";
      return {
        label: arm, borderColor: colour, backgroundColor: colour,
        borderDash: arm.indexOf("/") < 0 ? [6, 4] : [],
        data: labels.map(function (day) {
          var row = days.find(function (d) { return d.day === day && label(d) === arm; });
          return row ? row[field] : null;
        })
      };
    });
    return { labels: labels, datasets: datasets };
  }

  function table(days) {
    var body = document.querySelector("#days tbody");
    days.forEach(function (d) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-day", d.day);
      tr.setAttribute("data-arm", label(d));
      [d.day, label(d), d.impressions, d.clicks,
        d.ctr === null ? "-" : (100 * d.ctr).toFixed(2) + "%", d.orders,
        d.revenue.toFixed(2)].forEach(function (value) {
        var td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function draw(data) {
    var a = data.active_model;
    text("active-model", a ? a.version + " since " + a.activated_at : "none");
    text("last-retrain", gate(data.last_retrain));
    text("events-pending", data.events_pending +
      (data.oldest_pending_s === null ? "" : " (oldest " + age(data.oldest_pending_s) + ")"));
    text("freshness", age(data.last_applied_s));
    var e = data.experiment;
    text("experiment", !e ? "none (dmf for everybody)" : e.status === "running"
      ? e.name + ": " + e.arms.map(function (x) { return x[0] + " " + x[1]; }).join(", ")
      : e.name + " stopped, winner " + e.winner);
    table(data.days);
    var arms = Array.from(new Set(data.days.map(label))).sort();
    new window.Chart(document.getElementById("ctr-chart"), {
      type: "line", data: series(data.days, arms, "ctr"),
      options: { animation: false, scales: { y: { beginAtZero: true } } }
    });
    new window.Chart(document.getElementById("revenue-chart"), {
      type: "bar", data: series(data.days, arms, "revenue"),
      options: { animation: false, scales: { y: { beginAtZero: true } } }
    });
  }

  fetch("dashboard/data.json", { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (data) { draw(data); document.body.setAttribute("data-state", "ready"); })
    .catch(function (err) {
      document.body.setAttribute("data-state", "error");
      text("experiment", "could not load the figures: " + err.message);
    });
})();
