<?php
/**
 * MSI: a reservation (an order placed, cancelled or refunded) changes a SKU's salable quantity
 * without a product or source item save. MSI's consumer `inventory.reservations.updateSalabilityStatus`
 * then updates that stock's index (for the default stock, the legacy stock status) through
 * Magento\InventoryIndexer\Model\Queue\UpdateIndexSalabilityStatus::execute, which returns the
 * SKUs whose salability changed (and their parents): send those SKUs' states, read from each
 * website's stock (Model\Catalog\MsiSalability). It runs in the
 * consumer, after the index is written and outside any checkout. Never throws.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Plugin;

use Dmfrec\Recommendations\Model\Catalog\SkuQueue;
use Dmfrec\Recommendations\Model\Catalog\Sync;
use Psr\Log\LoggerInterface;

class SalabilityPlugin
{
    public function __construct(
        private readonly SkuQueue $queue,
        private readonly Sync $sync,
        private readonly LoggerInterface $logger
    ) {
    }

    /**
     * @param object $subject UpdateIndexSalabilityStatus
     * @param array<string|int, bool> $result SKU => salable now, for the SKUs that changed
     * @return array<string|int, bool>
     */
    public function afterExecute(object $subject, array $result): array
    {
        try {
            $this->queue->add(array_keys($result));
            $this->sync->syncSkus($this->queue->take());
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: salability changes not sent', ['exception' => $e]);
        }
        return $result;
    }
}
