<?php
/**
 * Sends product states to dmfrec in batches (CatalogBatch), through the delivery and its
 * outbox, so lists stop showing a product within one delivery of it being disabled, hidden,
 * sold out (on a website, with MSI), removed from a website or deleted.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

use Dmfrec\Recommendations\Model\CatalogBatch;
use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Delivery;
use Magento\Catalog\Model\ResourceModel\Product as ProductResource;

class Sync
{
    private const CHUNK = 500;

    public function __construct(
        private readonly Config $config,
        private readonly ProductStates $states,
        private readonly Delivery $delivery,
        private readonly ProductResource $products,
        private readonly WebsiteStock $stock
    ) {
    }

    /**
     * The states of these SKUs (MSI stock changes name SKUs, not product ids); SKUs without a
     * product are skipped.
     *
     * @param string[] $skus
     */
    public function syncSkus(array $skus): int
    {
        if (!$skus || !$this->config->catalogSyncEnabled()) {
            return 0;
        }
        $sent = 0;
        foreach (array_chunk(array_values(array_unique($skus)), self::CHUNK) as $chunk) {
            $ids = array_map('intval', array_values($this->products->getProductsIdsBySkus($chunk)));
            $sent += $this->syncIds(array_filter($ids));
        }
        return $sent;
    }

    /** @param int[] $productIds */
    public function syncIds(array $productIds): int
    {
        if (!$this->config->catalogSyncEnabled()) {
            return 0;
        }
        $sent = 0;
        foreach (array_chunk(array_values(array_unique($productIds)), self::CHUNK) as $chunk) {
            $sent += $this->send(array_values($this->states->forIds($chunk)));
        }
        return $sent;
    }

    /**
     * Only the products among $productIds that Magento would not show now, or (per-website
     * stock) would not show on one of their websites: after an order.
     */
    public function syncHidden(array $productIds): int
    {
        if (!$this->config->catalogSyncEnabled()) {
            return 0;
        }
        $hidden = array_filter($this->states->forIds($productIds),
            fn (array $s) => !($s['enabled'] && $s['visible']) || $this->stock->soldOutSomewhere($s));
        return $this->send(array_values($hidden));
    }

    /** @param string[] $skus deleted products */
    public function syncDeleted(array $skus): int
    {
        if (!$this->config->catalogSyncEnabled()) {
            return 0;
        }
        return $this->send(array_map(static fn (string $sku) => ['sku' => $sku, 'deleted' => true], $skus));
    }

    /** @param array<int, array<string, mixed>> $states */
    private function send(array $states): int
    {
        if (!$states) {
            return 0;
        }
        $batch = new CatalogBatch(self::CHUNK, $this->stock);
        $messages = $batch->messages($states, microtime(true), $this->config->catalogTargets(),
            $this->config->catalogServed());
        foreach ($messages as $message) {
            $this->delivery->deliver($message);
        }
        return count($states);
    }
}
