<?php
/** An order entity as the plain rows SnapshotBuilder takes, plus its website id. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Order;

use Dmfrec\Recommendations\Model\Outbox\Message;
use Dmfrec\Recommendations\Model\SnapshotBuilder;
use Magento\Sales\Model\Order;

class SnapshotSource
{
    public function __construct(private readonly SnapshotBuilder $builder)
    {
    }

    public function websiteId(Order $order): ?int
    {
        $store = $order->getStore();
        return $store ? (int) $store->getWebsiteId() : null;
    }

    public function message(Order $order): Message
    {
        $items = [];
        foreach ($order->getAllItems() as $item) {
            $items[] = $item->getData();
        }
        return $this->builder->message($this->builder->build($order->getData(), $items, $this->websiteId($order)));
    }
}
