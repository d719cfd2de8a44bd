/**
 * Fills a dmfrec placeholder once the visitor is known: from the `dmfrec` customer-data
 * section a logged-in customer's id and token (kept out of the cached page), nothing for a
 * guest (who gets popular products). Then dmfrec's own widget script renders the list; it is
 * loaded once per page, after every placeholder has its data. The widget is asked to keep a
 * guest's random session id in the `dmfrec_session` cookie, which the module stamps on the
 * order at checkout (Plugin\OrderSessionPlugin) so the guest's order is attributed to the
 * recommendations that guest clicked.
 */
define(['Magento_Customer/js/customer-data'], function (customerData) {
    'use strict';

    var pending = 0;

    function loadWidget(api) {
        if (window.dmfrecWidgetLoaded) {
            return;
        }
        window.dmfrecWidgetLoaded = true;
        var script = document.createElement('script');
        script.src = api + '/widget.js';
        script.async = true;
        document.head.appendChild(script);
    }

    function fill(el, config, data) {
        el.setAttribute('data-dmfrec', '');
        el.setAttribute('data-api', config.api);
        el.setAttribute('data-limit', String(config.limit));
        // The guest session id goes into a cookie the checkout reads (order attribution).
        if (mayKeepSessionCookie(config.sessionCookieConsent)) {
            el.setAttribute('data-session-cookie', '');
        }
        if (config.productsUrl) {
            // Cards only for products this store shows (enabled, visible, in stock, here).
            el.setAttribute('data-products-url', config.productsUrl);
            el.setAttribute('data-only-known', '');
        }
        if (config.website !== null && config.website !== undefined) {
            el.setAttribute('data-website', String(config.website));
        }
        if (data && data.customer_id && data.token) {
            el.setAttribute('data-customer', data.customer_id);
            el.setAttribute('data-token', data.token);
        }
    }

    /**
     * With cookie restriction mode on (`website` is then the store's website id), only once the
     * visitor allowed cookies for that website, as Magento's own scripts check it.
     */
    function mayKeepSessionCookie(website) {
        var match;

        if (website === null || website === undefined) {
            return true;
        }
        match = document.cookie.match(/(?:^|; )user_allowed_save_cookie=([^;]*)/);
        try {
            return match !== null && JSON.parse(decodeURIComponent(match[1]))[website] === 1;
        } catch (e) {
            return false;
        }
    }

    function expired(data) {
        return data && data.expires && data.expires * 1000 < Date.now() + 30000;
    }

    return function (config, element) {
        var section = customerData.get('dmfrec');
        var done = false;
        var reloaded = false;
        pending += 1;

        function ready(data) {
            if (done) {
                return;
            }
            if (expired(data)) {
                if (!reloaded) {  // a token about to expire: fetch a fresh one, once
                    reloaded = true;
                    customerData.reload(['dmfrec'], false);
                    return;
                }
                data = {};  // still stale (clocks disagree): show popular products
            }
            done = true;
            fill(element, config, data);
            pending -= 1;
            if (pending === 0) {
                loadWidget(config.api);
            }
        }

        // The section is in local storage once loaded; an empty object means a guest.
        // customer-data reloads invalidated sections itself (login, logout: sections.xml).
        section.subscribe(ready);
        if (section() && (section().customer_id || section().data_id)) {
            ready(section());
        } else {
            customerData.reload(['dmfrec'], false);
        }
    };
});
