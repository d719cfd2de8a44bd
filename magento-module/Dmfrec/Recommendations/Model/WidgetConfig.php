<?php
/**
 * The widget's public configuration, the only data in the cached page: dmfrec's URL, how many
 * products, the website filter and the product-card route. Nothing about the visitor.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class WidgetConfig
{
    public function json(string $api, int $limit, ?int $websiteId, string $productsUrl): string
    {
        return (string) json_encode([
            'api' => rtrim($api, '/'),
            'limit' => max(1, min(50, $limit)),
            'website' => $websiteId,
            'productsUrl' => $productsUrl,
        ], JSON_UNESCAPED_SLASHES | JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT);
    }
}
