<?php
/**
 * On every committed order change (placed, invoiced, cancelled, refunded): put the order's
 * snapshot in the outbox. Never throws: recommendations must not break a checkout.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Observer;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Outbox;
use Dmfrec\Recommendations\Model\SnapshotBuilder;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Api\Data\OrderInterface;
use Psr\Log\LoggerInterface;

class OrderChanged implements ObserverInterface
{
    public function __construct(
        private readonly Config $config,
        private readonly SnapshotBuilder $builder,
        private readonly Outbox $outbox,
        private readonly LoggerInterface $logger
    ) {
    }

    public function execute(Observer $observer): void
    {
        try {
            if (!$this->config->isEnabled()) {
                return;
            }
            $event = $observer->getEvent();
            $order = $event->getOrder() ?? ($event->getCreditmemo() ? $event->getCreditmemo()->getOrder() : null);
            if (!$order instanceof OrderInterface || !$order->getEntityId()) {
                return;
            }
            $items = [];
            foreach ($order->getAllItems() as $item) {
                $items[] = $item->getData();
            }
            $this->outbox->add($this->builder->build($order->getData(), $items));
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: could not queue the order snapshot', ['exception' => $e]);
        }
    }
}
