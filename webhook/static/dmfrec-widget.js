/* dmfrec storefront widget: <div data-dmfrec data-api="https://reco.example"
 *   data-customer="42" data-token="..." data-limit="6" data-product-url="/p/{sku}"
 *   data-refresh="0"></div>
 * With a customer and a token it shows that customer's list (data-state="personal", or
 * "fallback" when the customer has none yet: popular SKUs); a guest gets data-state="popular".
 * A failed request leaves the element empty (data-state="error"), never breaks the page. */
(function () {
  "use strict";

  function card(el, item) {
    var a = document.createElement("a");
    a.className = "dmfrec-card";
    a.href = (el.getAttribute("data-product-url") || "#{sku}")
      .replace("{sku}", encodeURIComponent(item.sku));
    a.textContent = item.sku;
    a.setAttribute("data-sku", item.sku);
    return a;
  }

  function render(el, body, limit, guest) {
    var items = (body.items || []).slice(0, limit);
    while (el.firstChild) el.removeChild(el.firstChild);
    items.forEach(function (item) { el.appendChild(card(el, item)); });
    el.setAttribute("data-state", guest ? "popular" : body.fallback ? "fallback" : "personal");
    if (body.version) el.setAttribute("data-version", body.version);
  }

  function load(el) {
    var api = (el.getAttribute("data-api") || "").replace(/\/$/, "");
    var customer = el.getAttribute("data-customer");
    var token = el.getAttribute("data-token");
    var limit = parseInt(el.getAttribute("data-limit") || "6", 10);
    var headers = {};
    var url = api + "/v1/popular?limit=" + limit;
    if (customer && token) {
      url = api + "/v1/customers/" + encodeURIComponent(customer) +
        "/recommendations?limit=" + limit;
      headers.Authorization = "Bearer " + token;
    }
    return fetch(url, { headers: headers })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { render(el, body, limit, !(customer && token)); })
      .catch(function () { el.setAttribute("data-state", "error"); });
  }

  function start() {
    var els = document.querySelectorAll("[data-dmfrec]");
    Array.prototype.forEach.call(els, function (el) {
      load(el);
      var every = parseInt(el.getAttribute("data-refresh") || "0", 10);
      if (every > 0) setInterval(function () { load(el); }, every * 1000);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
