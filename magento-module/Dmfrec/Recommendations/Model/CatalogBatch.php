<?php
/**
 * Product state messages for dmfrec's catalogue endpoint: per SKU whether Magento would show it
 * (enabled, visible in catalog or search, in stock), its website ids and, when the row has
 * them, its native `related` and `upsell` links (Catalog\LinkRows). Built from plain
 * arrays; states are split into batches of at most $batchSize SKUs (and about half a megabyte:
 * Catalog\StateChunks), one message each.
 * `occurred_at` (microseconds) lets dmfrec keep the newest state of a SKU whatever the order
 * of arrival. Every distinct dmfrec connection (the default one and each website's own, see
 * `targets`) gets each batch, as its own outbox row. With per-website stock (MSI: a state row
 * carries `salable`, website id => bool) a connection is told `in_stock` for the websites it
 * serves (`served`) and website ids of the websites that sell the product (Catalog\WebsiteStock),
 * so connections may get different bodies; without it they all get the same.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Catalog\LinkRows;
use Dmfrec\Recommendations\Model\Catalog\StateChunks;
use Dmfrec\Recommendations\Model\Catalog\WebsiteStock;
use Dmfrec\Recommendations\Model\Outbox\Message;

class CatalogBatch
{
    public function __construct(
        private readonly int $batchSize = 500,
        private readonly WebsiteStock $stock = new WebsiteStock()
    ) {
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
     * The websites each target connection serves: those whose connection (URL and secret) is
     * the target's, itself included (a website without its own values has the default's).
     *
     * @param array<int|string, array{0: string, 1: string}> $enabled as for `targets`
     * @return array<int|string, int[]> target ('' for the default, else its website id) => website ids
     */
    public static function served(array $enabled): array
    {
        $identities = [];
        foreach ($enabled as $key => [$url, $secret]) {
            if ($url !== '') {
                $identities[$key] = rtrim($url, '/') . "\n" . $secret;
            }
        }
        $served = [];
        foreach (self::targets($enabled) as $target) {
            $identity = $identities[$target ?? ''];
            $served[$target ?? ''] = [];
            foreach ($identities as $key => $other) {
                if ($key !== '' && $other === $identity) {
                    $served[$target ?? ''][] = (int) $key;
                }
            }
        }
        return $served;
    }

    /**
     * @param array<int, array<string, mixed>> $states rows with sku, enabled, visible, in_stock,
     *     website_ids, optionally related and upsell, and with MSI salable (website id => bool);
     *     a deleted product: just its sku and `deleted` true
     * @param array<int, int|null> $targets connections to send to (`targets`): null the default
     * @param array<int|string, int[]> $served websites each target serves (`served`)
     * @return Message[]
     */
    public function messages(array $states, float $now, array $targets = [null], array $served = []): array
    {
        $occurredAt = gmdate('Y-m-d\TH:i:s', (int) $now) . sprintf('.%06dZ', (int) (fmod($now, 1) * 1e6));
        $views = [];  // one body per distinct view of the states: targets that see the same share it
        foreach ($targets as $website) {
            $bySku = [];
            foreach ($states as $state) {
                $sku = trim((string) ($state['sku'] ?? ''));
                if ($sku !== '') {  // the last state of a SKU wins
                    $bySku[$sku] = $this->state($sku, $state, $served[$website ?? ''] ?? []);
                }
            }
            $key = json_encode(array_values($bySku), JSON_THROW_ON_ERROR);
            $views[$key] ??= ['products' => array_values($bySku), 'targets' => []];
            $views[$key]['targets'][] = $website;
        }
        $messages = [];
        foreach ($views as $view) {
            foreach (StateChunks::split($view['products'], $this->batchSize) as $chunk) {
                $body = ['occurred_at' => $occurredAt, 'products' => $chunk];
                $eventId = 'products-' . substr(hash('sha256', json_encode($body, JSON_THROW_ON_ERROR)), 0, 32);
                $body = ['event_id' => $eventId] + $body;
                $payload = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
                foreach ($view['targets'] as $website) {
                    $subject = 'products:' . $eventId . ($website === null ? '' : ':w' . $website);
                    $messages[] = new Message($subject, $eventId, $occurredAt, Message::PRODUCTS, $payload, $website);
                }
            }
        }
        return $messages;
    }

    /**
     * @param array<string, mixed> $row
     * @param int[] $served
     * @return array<string, mixed>
     */
    private function state(string $sku, array $row, array $served): array
    {
        if (!empty($row['deleted'])) {
            return ['sku' => $sku, 'deleted' => true];
        }
        $websites = array_values(array_unique(array_map('intval', (array) ($row['website_ids'] ?? []))));
        sort($websites);
        $inStock = (bool) ($row['in_stock'] ?? false);
        if (isset($row['salable'])) {  // MSI: each website's own stock
            ['in_stock' => $inStock, 'website_ids' => $websites]
                = $this->stock->view($websites, (array) $row['salable'], $served);
        }
        return [
            'sku' => $sku,
            'enabled' => (bool) ($row['enabled'] ?? false),
            'visible' => (bool) ($row['visible'] ?? false),
            'in_stock' => $inStock,
            'website_ids' => $websites,
        ] + LinkRows::fields($sku, $row);
    }
}
