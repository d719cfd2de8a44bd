<?php
// Renders the module's widget template as the full-page cache would store it: the real template
// and the module's real WidgetConfig; the Magento block base class and escaper (which need a
// running Magento) are replaced by the minimum the template uses.
// Arguments: api limit website products-url [cookie-consent-website].
declare(strict_types=1);

$module = dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations';
require $module . '/Model/WidgetConfig.php';

[, $api, $limit, $website, $products, $consent] = $argv + [null, 'https://reco.example', '6', '',
    'https://shop.example/dmfrec/products/info/', ''];
$block = new class($api, (int) $limit, $website === '' ? null : (int) $website, $products,
    $consent === '' ? null : (int) $consent) {
    public function __construct(private string $api, private int $limit, private ?int $website,
                                private string $products, private ?int $consent)
    {
    }

    public function getData(string $key): ?string
    {
        return $key === 'title' ? 'Recommended for you' : null;
    }

    public function getWidgetConfig(): string
    {
        return (new \Dmfrec\Recommendations\Model\WidgetConfig())->json($this->api, $this->limit,
            $this->website, $this->products, $this->consent);
    }
};
$escaper = new class {
    public function escapeHtml(string $s): string
    {
        return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }
};
include $module . '/view/frontend/templates/recommendations.phtml';
