<?php
// Renders the module's widget template as the full-page cache would store it: the real template
// and the module's real WidgetConfig; the Magento block base class and escaper (which need a
// running Magento) are replaced by the minimum the template uses.
// Arguments: api limit website products-url [cookie-consent-website [static-base-url [title]]].
// The title is the layout's (or a CMS widget's) `title` argument.
// Static files are named as Magento's getViewFileUrl names them: <static base>/<Module>/<path>.
declare(strict_types=1);

$module = dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations';
require $module . '/Model/WidgetConfig.php';

[, $api, $limit, $website, $products, $consent, $static, $title] = $argv + [null, 'https://reco.example', '6', '',
    'https://shop.example/dmfrec/products/info/', '', '', ''];
// An empty static base or title: the defaults (a Luma static URL; the layouts' title).
$static = $static === '' ? 'https://shop.example/static/frontend/Magento/luma/en_US/' : $static;
$title = $title === '' ? 'Recommended for you' : $title;
$block = new class($api, (int) $limit, $website === '' ? null : (int) $website, $products,
    $consent === '' ? null : (int) $consent, $static, $title) {
    public function __construct(private string $api, private int $limit, private ?int $website,
                                private string $products, private ?int $consent, private string $static,
                                private string $title)
    {
    }

    public function getViewFileUrl(string $fileId): string
    {
        return rtrim($this->static, '/') . '/' . str_replace('::', '/', $fileId);
    }

    public function getData(string $key): ?string
    {
        return $key === 'title' ? $this->title : null;
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

    public function escapeUrl(string $s): string
    {
        return $this->escapeHtml($s);
    }
};
include $module . '/view/frontend/templates/recommendations.phtml';
