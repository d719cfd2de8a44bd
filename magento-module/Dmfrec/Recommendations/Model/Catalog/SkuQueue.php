<?php
/**
 * SKUs whose catalogue state must be sent, collected during a request (framework-free; one
 * shared instance per request through Magento's object manager).
 *
 * MSI changes stock without saving the product: a source item saved or deleted (an import, the
 * admin's sources grid, a shipment's source deduction), or a reservation (placing, cancelling or
 * refunding an order) whose salability update MSI's consumer applies later. The plugins
 * (Plugin\SourceItemsPlugin, Plugin\SalabilityPlugin) queue those SKUs here and hand them to
 * the catalogue sync (`Catalog\Sync::syncSkus`) once MSI's own work is done. SKUs may come as
 * array keys, where PHP turns a numeric SKU ("12345") into an integer: taken as the string.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Catalog;

class SkuQueue
{
    /** Far above any one save; a runaway caller is cut off rather than held in memory. */
    private const LIMIT = 100000;

    /** @var array<string, true> */
    private array $skus = [];

    /** @param iterable<mixed> $skus blanks and non-SKUs are skipped, duplicates kept once */
    public function add(iterable $skus): void
    {
        foreach ($skus as $sku) {
            if (count($this->skus) >= self::LIMIT) {
                return;
            }
            $sku = is_string($sku) || is_int($sku) ? trim((string) $sku) : '';
            if ($sku !== '') {
                $this->skus[$sku] = true;
            }
        }
    }

    /**
     * The SKUs of MSI source items: SourceItemInterface objects (SourceItemsSaveInterface,
     * SourceItemsDeleteInterface) or DecrementSourceItemQty's ['source_item' => ..., 'qty_to_decrement' => ...].
     *
     * @param iterable<mixed> $items
     */
    public function addSourceItems(iterable $items): void
    {
        $skus = [];
        foreach ($items as $item) {
            $source = is_array($item) ? ($item['source_item'] ?? null) : $item;
            if (is_object($source) && method_exists($source, 'getSku')) {
                $skus[] = $source->getSku();
            }
        }
        $this->add($skus);
    }

    /** @return string[] the queued SKUs in the order first queued; the queue is then empty */
    public function take(): array
    {
        $skus = array_map('strval', array_keys($this->skus));
        $this->skus = [];
        return $skus;
    }
}
