<?php
/**
 * Product state messages for dmfrec's catalogue endpoint: per SKU whether Magento would show it
 * (enabled, visible in catalog or search, in stock), its website ids and, when the row has
 * them, its native `related` and `upsell` links (Catalog\LinkRows). Built from plain
 * arrays; states are split into batches of at most $batchSize SKUs (and about half a megabyte:
 * Catalog\StateChunks), one message each.
 * `occurred_at` (microseconds) lets dmfrec keep the newest state of a SKU whatever the order
 * of arrival. Product states are not per website, so every distinct dmfrec connection (the
 * default one and each website's own, see `targets`) gets each batch, as its own outbox row.
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
     * The connections that get the catalogue: of the enabled ones (null: the default; an int: a
     * website's), each distinct URL and secret once, the default first.
     *
     * @param array<int|string, array{0: string, 1: string}> $enabled connection key ('' for the
     *     default, else the website id) => [URL, webhook secret]
     * @return array<int, int|null> website ids, null for the default connection
     */
    public static function targets(array $enabled): array
    {
        $seen = $targets = [];
        foreach ($enabled as $key => [$url, $secret]) {
            $identity = rtrim($url, '/') . "\n" . $secret;
            if ($url === '' || isset($seen[$identity])) {
                continue;
            }
            $seen[$identity] = true;
            $targets[] = $key === '' ? null : (int) $key;
        }
        return $targets;
    }

    /**
     * @param array<int, array<string, mixed>> $states rows with sku, enabled, visible, in_stock,
     *     website_ids, optionally related and upsell (a deleted product: its sku, `deleted` true)
     * @param array<int, int|null> $targets connections to send to (`targets`): null the default
     * @return Message[]
     */
    public function messages(array $states, float $now, array $targets = [null]): array
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
        foreach (Catalog\StateChunks::split(array_values($bySku), $this->batchSize) as $chunk) {
            $body = ['occurred_at' => $occurredAt, 'products' => $chunk];
            $eventId = 'products-' . substr(hash('sha256', json_encode($body, JSON_THROW_ON_ERROR)), 0, 32);
            $body = ['event_id' => $eventId] + $body;
            $payload = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
            foreach ($targets as $website) {
                $subject = 'products:' . $eventId . ($website === null ? '' : ':w' . $website);
                $messages[] = new Message($subject, $eventId, $occurredAt, Message::PRODUCTS, $payload, $website);
            }
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
        ] + Catalog\LinkRows::fields($sku, $row);
    }
}
