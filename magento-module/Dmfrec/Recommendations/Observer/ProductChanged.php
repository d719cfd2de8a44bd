<?php
/**
 * Product saved or deleted, stock item saved, websites changed (all after commit): send the
 * product's state. Never throws: a catalogue edit must not fail because of dmfrec.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Observer;

use Dmfrec\Recommendations\Model\Catalog\Sync;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Psr\Log\LoggerInterface;

class ProductChanged implements ObserverInterface
{
    public function __construct(private readonly Sync $sync, private readonly LoggerInterface $logger)
    {
    }

    public function execute(Observer $observer): void
    {
        try {
            $event = $observer->getEvent();
            $name = (string) $event->getName();
            if ($name === 'catalog_product_delete_commit_after') {
                $sku = (string) $event->getData('product')?->getSku();
                $sku !== '' && $this->sync->syncDeleted([$sku]);
            } elseif ($name === 'catalog_product_to_website_change') {
                $this->sync->syncIds(array_map('intval', (array) $event->getData('products')));
            } elseif ($name === 'cataloginventory_stock_item_save_commit_after') {
                $id = (int) $event->getData('item')?->getProductId();
                $id && $this->sync->syncIds([$id]);
            } else {
                $id = (int) $event->getData('product')?->getId();
                $id && $this->sync->syncIds([$id]);
            }
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: product state not sent', ['exception' => $e]);
        }
    }
}
