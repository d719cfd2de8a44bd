<?php
/**
 * The order snapshot dmfrec's webhook takes (its OpenAPI document: SnapshotEvent), built from
 * an order's sales_order row and its sales_order_item rows as plain arrays (getData()), so it
 * can be built and tested without a running Magento.
 *
 * The event id is derived from the order's state of progress, so the same snapshot sent twice
 * (a retry, a resend) has the same id and is counted once; any change gives a new id.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class SnapshotBuilder
{
    private const ITEM_FIELDS = ['item_id', 'parent_item_id', 'product_id', 'sku', 'name',
        'product_type', 'qty_ordered', 'qty_canceled', 'qty_refunded', 'qty_invoiced', 'price',
        'row_total'];
    private const NUMBERS = ['qty_ordered', 'qty_canceled', 'qty_refunded', 'qty_invoiced',
        'price', 'row_total'];
    private const IDS = ['item_id', 'parent_item_id', 'product_id'];

    /**
     * @param array<string, mixed> $order a sales_order row
     * @param array<int, array<string, mixed>> $items its sales_order_item rows
     * @return array<string, mixed>
     */
    public function build(array $order, array $items): array
    {
        $snapshot = [
            'entity_id' => (int) $order['entity_id'],
            'increment_id' => (string) $order['increment_id'],
            'store_id' => isset($order['store_id']) ? (int) $order['store_id'] : null,
            'customer_id' => empty($order['customer_id']) ? null : (int) $order['customer_id'],
            'customer_email' => $order['customer_email'] ?? null,
            'customer_is_guest' => !empty($order['customer_is_guest']),
            'state' => (string) $order['state'],
            'status' => $order['status'] ?? null,
            'created_at' => (string) $order['created_at'],
            'updated_at' => (string) $order['updated_at'],
            'currency' => $order['order_currency_code'] ?? null,
            'grand_total' => isset($order['grand_total']) ? (string) $order['grand_total'] : null,
            'items' => array_map([$this, 'item'], array_values($items)),
        ];
        return ['event_id' => $this->eventId($snapshot), 'order' => $snapshot];
    }

    /**
     * @param array<string, mixed> $row
     * @return array<string, mixed>
     */
    private function item(array $row): array
    {
        $item = [];
        foreach (self::ITEM_FIELDS as $field) {
            if (!array_key_exists($field, $row) || $row[$field] === null) {
                continue;
            }
            if (in_array($field, self::IDS, true)) {
                $item[$field] = (int) $row[$field];
            } elseif (in_array($field, self::NUMBERS, true)) {
                $item[$field] = (string) $row[$field];  // decimals as strings: no float rounding
            } else {
                $item[$field] = (string) $row[$field];
            }
        }
        return $item;
    }

    /**
     * @param array<string, mixed> $snapshot
     */
    public function eventId(array $snapshot): string
    {
        $progress = [];
        foreach ($snapshot['items'] as $item) {
            $progress[] = implode(':', [$item['item_id'], $item['qty_ordered'] ?? '0',
                $item['qty_invoiced'] ?? '0', $item['qty_canceled'] ?? '0',
                $item['qty_refunded'] ?? '0']);
        }
        $basis = implode('|', [$snapshot['entity_id'], $snapshot['state'],
            $snapshot['updated_at'], implode(',', $progress)]);
        return 'order-' . $snapshot['entity_id'] . '-' . substr(hash('sha256', $basis), 0, 24);
    }
}
