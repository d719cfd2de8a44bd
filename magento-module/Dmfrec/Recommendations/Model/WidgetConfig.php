<?php
/**
 * The widget's public configuration, the only data in the cached page: dmfrec's URL, how many
 * products, the website filter and the product-card route. Nothing about the visitor.
 * `sessionCookieConsent`: with Magento's cookie restriction mode on, the id of the website whose
 * consent (Magento's `user_allowed_save_cookie` cookie) the script needs before it lets the
 * widget keep the guest session cookie (order attribution); null when no consent is asked.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class WidgetConfig
{
    public function json(string $api, int $limit, ?int $websiteId, string $productsUrl,
                         ?int $sessionCookieConsent = null): string
    {
        return (string) json_encode([
            'api' => rtrim($api, '/'),
            'limit' => max(1, min(50, $limit)),
            'website' => $websiteId,
            'productsUrl' => $productsUrl,
            'sessionCookieConsent' => $sessionCookieConsent,
        ], JSON_UNESCAPED_SLASHES | JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT);
    }
}
