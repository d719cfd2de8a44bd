<?php
/**
 * `customer_delete_commit_after`: ask dmfrec to erase what it holds about the customer (by id,
 * and by email for their guest orders), through the same signed delivery and outbox as orders.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Observer;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\ErasureRequest;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Psr\Log\LoggerInterface;

class CustomerDeleted implements ObserverInterface
{
    public function __construct(
        private readonly Config $config,
        private readonly ErasureRequest $erasure,
        private readonly Delivery $delivery,
        private readonly LoggerInterface $logger
    ) {
    }

    public function execute(Observer $observer): void
    {
        try {
            $customer = $observer->getEvent()->getData('customer');
            $website = $customer?->getWebsiteId() ? (int) $customer->getWebsiteId() : null;
            if ($customer === null || !$this->config->isEnabled($website) || !$customer->getId()) {
                return;
            }
            // To the connection of the customer's website (where their orders went).
            foreach ($this->erasure->messages((string) $customer->getId(), $customer->getEmail(), time(),
                $website) as $m) {
                $this->delivery->deliver($m);
            }
        } catch (\Throwable $e) {
            $this->logger->error('dmfrec: erasure request not queued', ['exception' => $e]);
        }
    }
}
