/* dmfrec storefront widget: <div data-dmfrec data-api="https://reco.example"
 *   data-customer="42" data-token="..." data-limit="6" data-product-url="/p/{sku}"
 *   data-refresh="0" data-website="1"></div>
 * With a customer and a token it shows that customer's list (data-state="personal", or
 * "fallback" when the customer has none yet: popular SKUs); a guest gets data-state="popular".
 * With data-products-url (the Magento module's product-info route: ?skus=A,B -> {sku: {name,
 * price, url, image}}) the cards show name, price, image and link; without it, or if that
 * call fails, SKU links. A failed list request leaves the element empty (data-state="error")
 * and never breaks the page. With data-website only that Magento website's products are listed;
 * with data-only-known only SKUs the product-info route describes (the Magento module sets it). */
(function () {
  "use strict";

  function card(el, item, info) {
    var a = document.createElement("a");
    a.className = "dmfrec-card";
    a.href = info && info.url ? info.url : (el.getAttribute("data-product-url") || "#{sku}")
      .replace("{sku}", encodeURIComponent(item.sku));
    a.setAttribute("data-sku", item.sku);
    if (info && info.image) {
      var img = document.createElement("img");
      img.src = info.image;
      img.alt = info.name || item.sku;
      a.appendChild(img);
    }
    var name = document.createElement("span");
    name.className = "dmfrec-name";
    name.textContent = info && info.name ? info.name : item.sku;
    a.appendChild(name);
    if (info && info.price) {
      var price = document.createElement("span");
      price.className = "dmfrec-price";
      price.textContent = info.price;
      a.appendChild(price);
    }
    return a;
  }

  function productInfo(el, items) {
    var url = el.getAttribute("data-products-url");
    if (!url || !items.length) return Promise.resolve({});
    var skus = items.map(function (i) { return i.sku; }).join(",");
    return fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "skus=" + encodeURIComponent(skus))
      .then(function (r) { return r.ok ? r.json() : {}; })
      .catch(function () { return {}; });
  }

  function render(el, body, limit, guest) {
    var items = (body.items || []).slice(0, limit);
    return productInfo(el, items).then(function (infos) {
      infos = infos || {};
      // data-only-known: only SKUs the shop describes (it leaves out what it would not show).
      if (el.hasAttribute("data-only-known")) {
        items = items.filter(function (i) { return infos[i.sku]; });
      }
      draw(el, body, items, infos, guest);
    });
  }

  function draw(el, body, items, infos, guest) {
    while (el.firstChild) el.removeChild(el.firstChild);
    items.forEach(function (item) { el.appendChild(card(el, item, infos[item.sku])); });
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
    var website = el.getAttribute("data-website");
    if (website) url += "&website=" + encodeURIComponent(website);
    return fetch(url, { headers: headers })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { return render(el, body, limit, !(customer && token)); })
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
