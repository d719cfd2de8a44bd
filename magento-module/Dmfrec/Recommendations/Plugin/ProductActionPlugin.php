<?php
/**
 * Mass status / attribute updates (Catalog > Products > Update attributes, the mass enable and
 * disable actions) write through Product\Action::updateAttributes without a per-product save:
 * send the states of all those products, batched, once the update is done.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Plugin;

use Dmfrec\Recommendations\Model\Catalog\Sync;
use Magento\Catalog\Model\Product\Action;
use Psr\Log\LoggerInterface;

class ProductActionPlugin
{
    private const RELEVANT = ['status', 'visibility', 'quantity_and_stock_status'];

    public function __construct(private readonly Sync $sync, private readonly LoggerInterface $logger)
    {
    }

    /**
     * @param array<int|string> $productIds
     * @param array<string, mixed> $attrData
     */
    public function afterUpdateAttributes(Action $subject, Action $result, $productIds, $attrData, $storeId): Action
    {
        if (array_intersect(array_keys((array) $attrData), self::RELEVANT)) {
            try {
                $this->sync->syncIds(array_map('intval', (array) $productIds));
            } catch (\Throwable $e) {
                $this->logger->error('dmfrec: product states not sent', ['exception' => $e]);
            }
        }
        return $result;
    }
}
