<?php
/**
 * MSI: a source item saved, deleted or decremented without a product save (an import, the
 * sources grid, a shipment's source deduction) may put a SKU in or out of stock: send those
 * SKUs' catalogue states once the save is done. Declared (etc/di.xml) on
 * Magento\InventoryApi\Api\SourceItemsSaveInterface, SourceItemsDeleteInterface and
 * Magento\Inventory\Model\SourceItem\Command\DecrementSourceItemQty with a high
 * sortOrder, so it runs after MSI's own after-plugins have updated the stock indexes (and the
 * legacy stock status) that Catalog\ProductStates reads. Without MSI the interfaces do not exist and this never runs.
 * Never throws: a stock update must not fail because of dmfrec.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Plugin;

use Dmfrec\Recommendations\Model\Catalog\SkuQueue;
use Dmfrec\Recommendations\Model\Catalog\Sync;
use Psr\Log\LoggerInterface;

class SourceItemsPlugin
{
    public function __construct(
        private readonly SkuQueue $queue,
        private readonly Sync $sync,
        private readonly LoggerInterface $logger
    ) {
    }

    /**
     * @param object $subject SourceItemsSaveInterface, SourceItemsDeleteInterface or DecrementSourceItemQty
     * @param array<int, mixed> $sourceItems source items, or DecrementSourceItemQty's rows
     */
    public function afterExecute(object $subject, mixed $result, array $sourceItems): mixed
    {
        try {
            $this->queue->addSourceItems($sourceItems);
            $this->sync->syncSkus($this->queue->take());
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: stock states not sent', ['exception' => $e]);
        }
        return $result;
    }
}
