<?php
/**
 * The order snapshot dmfrec's webhook takes (its OpenAPI document: SnapshotEvent), built from
 * an order's sales_order row and its sales_order_item rows as plain arrays (getData()), so it
 * can be built and tested without a running Magento.
 *
 * Amounts are sent in the order's currency and in the base currency (`base_row_total`): dmfrec
 * values lines in base currency, so stores with several display currencies add up. The
 * website id lets dmfrec keep per-website lists. `session_id` is the widget's random guest
 * session the order was placed from (sales_order.dmfrec_session_id, see GuestSession): dmfrec
 * attributes the order to the recommendations clicked in that session; null when unknown.
 *
 * The event id is derived from the order's state of progress, so the same snapshot sent twice
 * (a retry, a resend) has the same id and is counted once; any change gives a new id.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Outbox\Message;

class SnapshotBuilder
{
    private const ITEM_FIELDS = ['item_id', 'parent_item_id', 'product_id', 'sku', 'name',
        'product_type', 'qty_ordered', 'qty_canceled', 'qty_refunded', 'qty_invoiced', 'price',
        'row_total', 'base_price', 'base_row_total'];
    private const NUMBERS = ['qty_ordered', 'qty_canceled', 'qty_refunded', 'qty_invoiced',
        'price', 'row_total', 'base_price', 'base_row_total'];
    private const IDS = ['item_id', 'parent_item_id', 'product_id'];
    private const PROGRESS = ['qty_invoiced', 'qty_canceled', 'qty_refunded'];

    /**
     * @param array<string, mixed> $order a sales_order row
     * @param array<int, array<string, mixed>> $items its sales_order_item rows
     * @param int|null $websiteId the website of the order's store
     * @return array<string, mixed>
     */
    public function build(array $order, array $items, ?int $websiteId = null): array
    {
        $snapshot = [
            'entity_id' => (int) $order['entity_id'],
            'increment_id' => (string) $order['increment_id'],
            'store_id' => isset($order['store_id']) ? (int) $order['store_id'] : null,
            'website_id' => $websiteId,
            'customer_id' => empty($order['customer_id']) ? null : (int) $order['customer_id'],
            'customer_email' => $order['customer_email'] ?? null,
            'customer_is_guest' => !empty($order['customer_is_guest']),
            'state' => (string) $order['state'],
            'status' => $order['status'] ?? null,
            'created_at' => (string) $order['created_at'],
            'updated_at' => (string) $order['updated_at'],
            'currency' => $order['order_currency_code'] ?? null,
            'grand_total' => isset($order['grand_total']) ? (string) $order['grand_total'] : null,
            'base_currency' => $order['base_currency_code'] ?? null,
            'base_grand_total' => isset($order['base_grand_total']) ? (string) $order['base_grand_total'] : null,
            'session_id' => (new GuestSession())->valid($order[GuestSession::COLUMN] ?? null),
            'items' => array_map([$this, 'item'], array_values($items)),
        ];
        return ['event_id' => $this->eventId($snapshot), 'order' => $snapshot];
    }

    /**
     * The outbox message for a built snapshot: one row per order, newest progress wins; sent to
     * the connection of the order's website.
     */
    public function message(array $event): Message
    {
        $order = $event['order'];
        return new Message('order:' . $order['entity_id'], (string) $event['event_id'],
            $this->version($order), Message::ORDERS,
            json_encode($event, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES),
            isset($order['website_id']) ? (int) $order['website_id'] : null);
    }

    /**
     * Sortable as a string, increasing over an order's life: updated_at, then the quantities
     * invoiced, cancelled and refunded (which break ties within one second).
     *
     * @param array<string, mixed> $order a built snapshot's order
     */
    public function version(array $order): string
    {
        $progress = 0.0;
        foreach ($order['items'] as $item) {
            foreach (self::PROGRESS as $field) {
                $progress += (float) ($item[$field] ?? 0);
            }
        }
        return sprintf('%s|%020.4f', $order['updated_at'], $progress);
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
