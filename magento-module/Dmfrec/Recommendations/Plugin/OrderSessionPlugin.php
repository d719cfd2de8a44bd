<?php
/**
 * Stamps the widget's guest session id (the `dmfrec_session` cookie) on an order as it is
 * placed, before OrderService::place saves it, so the order row keeps it and every later
 * snapshot (invoice, refund, cancel, saved in the admin or by cron) sends it. Placing goes
 * through OrderManagementInterface::place for the storefront, REST, GraphQL and admin checkouts;
 * GuestSession decides which requests count. Never throws: attribution must not break a checkout.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Plugin;

use Dmfrec\Recommendations\Model\GuestSession;
use Magento\Framework\App\State;
use Magento\Framework\DataObject;
use Magento\Framework\Stdlib\Cookie\CookieReaderInterface;
use Magento\Sales\Api\Data\OrderInterface;
use Magento\Sales\Api\OrderManagementInterface;
use Psr\Log\LoggerInterface;

class OrderSessionPlugin
{
    public function __construct(
        private readonly CookieReaderInterface $cookies,
        private readonly State $state,
        private readonly GuestSession $sessions,
        private readonly LoggerInterface $logger
    ) {
    }

    /**
     * @return array{0: OrderInterface}
     */
    public function beforePlace(OrderManagementInterface $subject, OrderInterface $order): array
    {
        try {
            if ($order instanceof DataObject && !$order->getData(GuestSession::COLUMN)) {
                $id = $this->sessions->fromCookie($this->cookies->getCookie(GuestSession::COOKIE),
                    $this->state->getAreaCode());
                if ($id !== null) {
                    $order->setData(GuestSession::COLUMN, $id);
                }
            }
        } catch (\Throwable $e) {
            $this->logger->warning('dmfrec: guest session not stamped on the order', ['exception' => $e]);
        }
        return [$order];
    }
}
