<?php
/**
 * Product state messages for dmfrec's catalogue endpoint: per SKU whether Magento would show it
 * (enabled, visible in catalog or search, in stock) and its website ids. Built from plain
 * arrays; states are split into batches of at most $batchSize SKUs, one message each.
 * `occurred_at` (microseconds) lets dmfrec keep the newest state of a SKU whatever the order
 * of arrival.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Outbox\Message;

class CatalogBatch
{
    public function __construct(private readonly int $batchSize = 500)
    {
    }

    /**
     * @param array<int, array<string, mixed>> $states rows with sku, enabled, visible, in_stock,
     *     website_ids (a deleted product: just its sku and `deleted` true)
     * @return Message[]
     */
    public function messages(array $states, float $now): array
    {
        $bySku = [];
        foreach ($states as $state) {
            $sku = trim((string) ($state['sku'] ?? ''));
            if ($sku !== '') {
                $bySku[$sku] = $this->state($sku, $state);  // the last state of a SKU wins
            }
        }
        $occurredAt = gmdate('Y-m-d\TH:i:s', (int) $now) . sprintf('.%06dZ', (int) (fmod($now, 1) * 1e6));
        $messages = [];
        foreach (array_chunk(array_values($bySku), max(1, $this->batchSize)) as $chunk) {
            $body = ['occurred_at' => $occurredAt, 'products' => $chunk];
            $eventId = 'products-' . substr(hash('sha256', json_encode($body, JSON_THROW_ON_ERROR)), 0, 32);
            $body = ['event_id' => $eventId] + $body;
            $messages[] = new Message('products:' . $eventId, $eventId, $occurredAt, Message::PRODUCTS,
                json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES));
        }
        return $messages;
    }

    /**
     * @param array<string, mixed> $row
     * @return array<string, mixed>
     */
    private function state(string $sku, array $row): array
    {
        if (!empty($row['deleted'])) {
            return ['sku' => $sku, 'deleted' => true];
        }
        $websites = array_values(array_unique(array_map('intval', (array) ($row['website_ids'] ?? []))));
        sort($websites);
        return [
            'sku' => $sku,
            'enabled' => (bool) ($row['enabled'] ?? false),
            'visible' => (bool) ($row['visible'] ?? false),
            'in_stock' => (bool) ($row['in_stock'] ?? false),
            'website_ids' => $websites,
        ];
    }
}
