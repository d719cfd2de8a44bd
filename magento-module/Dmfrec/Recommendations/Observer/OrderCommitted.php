<?php
/**
 * `sales_order_save_commit_after`: every committed order change (placed, invoiced, shipped,
 * cancelled, refunded: each ends in a save of the order) is sent to dmfrec right away, outside
 * the checkout's transaction, with a short timeout; failures wait in the outbox for cron.
 * Never throws: recommendations must not break an order.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Observer;

use Dmfrec\Recommendations\Model\Catalog\Sync;
use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\Order\SnapshotSource;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Model\Order;
use Psr\Log\LoggerInterface;

class OrderCommitted implements ObserverInterface
{
    public function __construct(
        private readonly Config $config,
        private readonly SnapshotSource $snapshots,
        private readonly Delivery $delivery,
        private readonly Sync $catalog,
        private readonly LoggerInterface $logger
    ) {
    }

    public function execute(Observer $observer): void
    {
        try {
            $order = $observer->getEvent()->getData('order');
            if (!$order instanceof Order || !$order->getEntityId() || !$order->getAllItems()) {
                return;
            }
            if (!$this->config->isEnabled($this->snapshots->websiteId($order))) {
                return;
            }
            $this->delivery->deliver($this->snapshots->message($order));
            // What was just bought may have sold out: tell dmfrec about products now hidden.
            $ids = array_map(static fn ($item) => (int) $item->getProductId(), $order->getAllItems());
            $this->catalog->syncHidden(array_filter($ids));
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: order snapshot not sent', ['exception' => $e]);
        }
    }
}
