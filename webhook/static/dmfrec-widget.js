/* dmfrec storefront widget: <div data-dmfrec data-api="https://reco.example"
 *   data-customer="42" data-token="..." data-limit="6" data-product-url="/p/{sku}"
 *   data-refresh="0" data-website="1"></div>
 * With a customer and a token it shows that customer's list (data-state="personal", or
 * "fallback" when the customer has none yet: popular SKUs); a guest gets data-state="popular".
 * With data-products-url (the Magento module's product-info route: ?skus=A,B -> {sku: {name,
 * price, url, image}}) the cards show name, price, image and link; without it, or if that
 * call fails, SKU links. A failed list request leaves the element empty (data-state="error")
 * and never breaks the page. With data-website only that Magento website's products are listed;
 * with data-only-known only SKUs the product-info route describes (the Magento module sets it).
 * Analytics (issue 18): when the answer carries a "recommendation", the cards seen (at least
 * half the list in the viewport, IntersectionObserver) and clicked are reported in batched
 * navigator.sendBeacon calls to <data-api>/v1/analytics/events; a guest keeps the session id
 * the API mints in sessionStorage. With data-session-cookie (the Magento module sets it) the
 * session id is also kept in the first-party session cookie "dmfrec_session" (path /, no
 * expiry, SameSite=Lax): the shop reads it at checkout and sends it with the order, so a
 * guest's order is attributed to that browser session's clicks. The id is random, nothing
 * personal; the cookie also carries the session across the shop's tabs. */
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
    track(el, body, items);  // issue 18: impressions and clicks
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
    else url += "&session=" + encodeURIComponent(guestSession() || "new");  // issue 18
    var website = el.getAttribute("data-website");
    if (website) url += "&website=" + encodeURIComponent(website);
    return fetch(url, { headers: headers })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { return render(el, body, limit, !(customer && token)); })
      .catch(function () { el.setAttribute("data-state", "error"); });
  }

  // ---- issue 18: impressions and clicks, batched into beacons --------------------------
  var SESSION_KEY = "dmfrec-session";
  var SESSION_COOKIE = "dmfrec_session";
  var SESSION_FORMAT = /^s\.[A-Za-z0-9_-]+\.[0-9a-f]+$/;
  var queues = {};  // "<api> <token>" -> {api, token, reports: {recId: report}}
  var sent = {};  // "<recId> <sku> <type>": reported already from this page
  var timer = null;

  function sessionCookie() {
    var found = null;
    document.cookie.split(";").forEach(function (part) {
      var kv = part.trim().split("=");
      if (kv[0] === SESSION_COOKIE && SESSION_FORMAT.test(kv[1] || "")) found = kv[1];
    });
    return found;
  }

  function guestSession() {
    var kept = null;
    try { kept = window.sessionStorage.getItem(SESSION_KEY); } catch (e) { /* private mode */ }
    return kept || sessionCookie();
  }

  function keepSession(el, session) {
    try { window.sessionStorage.setItem(SESSION_KEY, session); } catch (e) { /* private mode */ }
    if (el.hasAttribute("data-session-cookie") && SESSION_FORMAT.test(session)) {
      document.cookie = SESSION_COOKIE + "=" + session + "; path=/; SameSite=Lax" +
        (window.location.protocol === "https:" ? "; Secure" : "");
    }
  }

  function queue(el, rec, sku, type) {
    var position = rec.positions[sku];
    var once = rec.id + " " + sku + " " + type;
    if (!position || sent[once]) return;
    sent[once] = true;
    var api = (el.getAttribute("data-api") || "").replace(/\/$/, "");
    var token = rec.subject.indexOf("s.") === 0 ? "" : (el.getAttribute("data-token") || "");
    var key = api + " " + token;
    var q = queues[key] || (queues[key] = { api: api, token: token, reports: {} });
    var report = q.reports[rec.id];
    if (!report) {
      var skus = Object.keys(rec.positions).sort(function (a, b) {
        return rec.positions[a] - rec.positions[b];
      });
      report = q.reports[rec.id] = { recommendation: { id: rec.id, subject: rec.subject,
        experiment: rec.experiment, arm: rec.arm, version: rec.version, day: rec.day,
        skus: skus }, events: [] };
    }
    report.events.push({ type: type, sku: sku, position: position });
    if (!timer) timer = setTimeout(flush, 2000);
  }

  // The server refuses a whole beacon over DMFREC_ANALYTICS_MAX_BODY_BYTES (16 KiB by default)
  // or with more than 20 reports: a page's reports go in as many beacons as keep under both.
  var BEACON_BYTES = 12000, BEACON_REPORTS = 20, REPORT_EVENTS = 25;

  function send(q, reports) {
    var body = { reports: reports };
    if (q.token) body.token = q.token;
    var blob = new Blob([JSON.stringify(body)], { type: "text/plain" });
    try { navigator.sendBeacon(q.api + "/v1/analytics/events", blob); } catch (e) { /* gone */ }
  }

  function flush() {
    timer = null;
    Object.keys(queues).forEach(function (key) {
      var q = queues[key], batch = [], size = 0;
      Object.keys(q.reports).forEach(function (id) {
        var report = q.reports[id];
        // A long list's events in parts (each part names the list again: at most ~10 KB).
        for (var i = 0; i < report.events.length; i += REPORT_EVENTS) {
          var part = { recommendation: report.recommendation,
            events: report.events.slice(i, i + REPORT_EVENTS) };
          var bytes = new Blob([JSON.stringify(part)]).size;
          if (batch.length && (size + bytes > BEACON_BYTES || batch.length === BEACON_REPORTS)) {
            send(q, batch);
            batch = [];
            size = 0;
          }
          batch.push(part);
          size += bytes;
        }
      });
      if (batch.length) send(q, batch);
      q.reports = {};
    });
  }

  function track(el, body, items) {
    var rec = body.recommendation;
    // A guest's list is served under its session (minted now, or the one kept): keep it.
    var session = body.session || (rec && rec.subject.indexOf("s.") === 0 ? rec.subject : null);
    if (session) keepSession(el, session);
    if (!rec || !items.length || !navigator.sendBeacon) return;
    el.setAttribute("data-rec-id", rec.id);
    if (el._dmfrecObserver) el._dmfrecObserver.disconnect();
    if (window.IntersectionObserver) {
      var seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          items.forEach(function (item) { queue(el, rec, item.sku, "impression"); });
          seen.disconnect();
        });
      }, { threshold: 0.5 });
      seen.observe(el);
      el._dmfrecObserver = seen;
    }
    Array.prototype.forEach.call(el.querySelectorAll(".dmfrec-card"), function (a) {
      a.addEventListener("click", function () {
        queue(el, rec, a.getAttribute("data-sku"), "click");
        flush();  // the page is about to go: send now
      });
    });
  }

  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });

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
