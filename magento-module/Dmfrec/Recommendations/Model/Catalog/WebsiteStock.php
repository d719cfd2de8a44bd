<?php
/**
 * Stock per website (MSI): each website sells from the stock assigned to it, so a product may
 * be salable on one website and sold out on another. From plain values and callables (no
 * Magento needed): which websites sell each SKU, what a dmfrec connection is told (in stock
 * if a website it serves sells it; website ids: the websites that sell it), and whether a SKU
 * is sold out somewhere it is assigned (sent after an order).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

class WebsiteStock
{
    /**
     * Whether each SKU is salable on each website, asking once per distinct stock.
     *
     * @param string[] $skus
     * @param array<int, string> $websiteCodes website id => code
     * @param callable(string): ?int $stockOf a website code's stock id (null: none assigned)
     * @param callable(string[], int): array<string, bool> $salable SKU => salable in that stock
     * @return array<string, array<int, bool>> SKU => website id => salable there
     */
    public function salableByWebsite(array $skus, array $websiteCodes, callable $stockOf,
                                     callable $salable): array
    {
        $skus = array_values(array_unique(array_map('strval', $skus)));
        $stocks = [];
        foreach ($websiteCodes as $websiteId => $code) {
            $stocks[(int) $websiteId] = $stockOf((string) $code);
        }
        $answers = [];
        foreach (array_unique(array_filter($stocks, static fn ($id) => $id !== null)) as $stockId) {
            $answers[$stockId] = $skus ? $salable($skus, (int) $stockId) : [];
        }
        $out = [];
        foreach ($skus as $sku) {
            $out[$sku] = [];
            foreach ($stocks as $websiteId => $stockId) {
                // A website without a stock sells nothing.
                $out[$sku][$websiteId] = $stockId !== null && !empty($answers[$stockId][$sku]);
            }
        }
        return $out;
    }

    /**
     * What one dmfrec connection is told about a product: in stock when a website it serves
     * (and the product is assigned to) sells it; with no served websites known, when any of the
     * product's websites does. The website ids are those of its websites that sell it, so lists
     * limited to a website leave out what that website's stock cannot sell.
     *
     * @param int[] $assigned the product's websites
     * @param array<int, bool> $salable website id => salable there (salableByWebsite)
     * @param int[] $served the websites the connection serves ([]: not known)
     * @return array{in_stock: bool, website_ids: int[]}
     */
    public function view(array $assigned, array $salable, array $served = []): array
    {
        $selling = array_values(array_filter(array_unique(array_map('intval', $assigned)),
            static fn (int $id) => !empty($salable[$id])));
        sort($selling);
        $served = array_map('intval', $served);
        $inStock = $served === [] ? $selling !== [] : array_intersect($selling, $served) !== [];
        return ['in_stock' => $inStock, 'website_ids' => $selling];
    }

    /**
     * Whether a website the product is assigned to cannot sell it (or, without per-website
     * stock, the one stock cannot): after an order, such a product's state is sent.
     *
     * @param array<string, mixed> $state a ProductStates row (`salable`: website id => bool, MSI)
     */
    public function soldOutSomewhere(array $state): bool
    {
        if (!isset($state['salable'])) {
            return empty($state['in_stock']);
        }
        foreach ((array) ($state['website_ids'] ?? []) as $websiteId) {
            if (empty($state['salable'][(int) $websiteId])) {
                return true;
            }
        }
        return false;
    }
}
