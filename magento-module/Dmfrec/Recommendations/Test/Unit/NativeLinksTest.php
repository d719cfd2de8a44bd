<?php
/** Native related/up-sell links in the product states (dmfrec's A/B arm "magento"). */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\Catalog\LinkRows;
use Dmfrec\Recommendations\Model\Catalog\StateChunks;
use Dmfrec\Recommendations\Model\CatalogBatch;
use PHPUnit\Framework\TestCase;

class NativeLinksTest extends TestCase
{
    public function testLinkRowsAreGroupedPerProductInTheShopsOrder(): void
    {
        $rows = [
            ['product_id' => '7', 'type' => 'related', 'sku' => 'C', 'position' => '2'],
            ['product_id' => '7', 'type' => 'related', 'sku' => 'B', 'position' => '1'],
            ['product_id' => '7', 'type' => 'related', 'sku' => 'Z', 'position' => null],
            ['product_id' => '7', 'type' => 'related', 'sku' => 'Y', 'position' => null],
            ['product_id' => '7', 'type' => 'upsell', 'sku' => 'D', 'position' => '0'],
            ['product_id' => '7', 'type' => 'crosssell', 'sku' => 'X', 'position' => '0'],
            ['product_id' => 9, 'type' => 'upsell', 'sku' => 'A', 'position' => 5],
        ];
        self::assertSame([
            7 => ['related' => ['B', 'C', 'Z', 'Y'], 'upsell' => ['D']],
            9 => ['related' => [], 'upsell' => ['A']],
        ], LinkRows::group($rows));
        self::assertSame([], LinkRows::group([]));
    }

    public function testLinksAreCleanedAsDmfrecRequiresThem(): void
    {
        // Each SKU once, never the product itself, no blanks, numeric SKUs as strings, capped.
        self::assertSame(['B', '123', 'C'], LinkRows::clean('A', [' B ', 'A', '', 'B', 123, 'C']));
        $many = array_map(static fn (int $k) => "S-$k", range(1, LinkRows::MAX + 5));
        self::assertCount(LinkRows::MAX, LinkRows::clean('A', $many));
        self::assertSame(['related' => ['B'], 'upsell' => []],
            LinkRows::fields('A', ['related' => ['B', 'A'], 'upsell' => []]));
        self::assertSame([], LinkRows::fields('A', ['enabled' => true]));  // unknown: left out
    }

    public function testStatesCarryTheirLinksAndADeletedOneNone(): void
    {
        $messages = (new CatalogBatch())->messages([
            ['sku' => 'A', 'enabled' => 1, 'visible' => 1, 'in_stock' => 1, 'website_ids' => [1],
             'related' => ['B', 'A', 'C'], 'upsell' => ['B']],
            ['sku' => 'B', 'enabled' => 1, 'visible' => 1, 'in_stock' => 1, 'website_ids' => [1]],
            ['sku' => 'C', 'deleted' => true, 'related' => ['A']],
        ], 1795750000.0);
        $products = json_decode($messages[0]->payload, true)['products'];
        self::assertSame(['B', 'C'], $products[0]['related']);
        self::assertSame(['B'], $products[0]['upsell']);
        self::assertArrayNotHasKey('related', $products[1]);  // not read: dmfrec keeps what it has
        self::assertSame(['sku' => 'C', 'deleted' => true], $products[2]);
    }

    public function testBatchesStayUnderTheByteBudget(): void
    {
        $state = static fn (int $k) => ['sku' => sprintf('S-%02d', $k), 'related' => array_fill(0, 10, str_repeat('x', 60))];
        $states = array_map($state, range(1, 30));
        $one = strlen(json_encode($states[0])) + 1;
        $chunks = StateChunks::split($states, 500, 4 * $one);
        self::assertSame([4, 4, 4, 4, 4, 4, 4, 2], array_map('count', $chunks));
        self::assertSame($states, array_merge(...$chunks));  // all of them, in order
        self::assertSame([2, 2, 1], array_map('count', StateChunks::split(array_slice($states, 0, 5), 2)));
        self::assertSame([[$states[0]]], StateChunks::split([$states[0]], 10, 1));  // alone if too big
        self::assertSame([], StateChunks::split([], 10));

        $big = array_map(static fn (int $k) => ['sku' => "P-$k", 'enabled' => 1,
            'related' => array_map(static fn (int $j) => str_repeat('r', 60) . $j, range(1, LinkRows::MAX)),
            'upsell' => array_map(static fn (int $j) => str_repeat('u', 60) . $j, range(1, LinkRows::MAX))],
            range(1, 500));
        $messages = (new CatalogBatch(500))->messages($big, 1795750000.0);
        self::assertGreaterThan(1, count($messages));
        foreach ($messages as $message) {
            self::assertLessThan(1_000_000, strlen($message->payload));
        }
        $sent = array_merge(...array_map(static fn ($m) => json_decode($m->payload, true)['products'], $messages));
        self::assertSame(array_map(static fn ($s) => $s['sku'], $big), array_column($sent, 'sku'));
    }

    public function testEachConnectionsStockViewCarriesTheLinksInBoundedBatches(): void
    {
        // MSI: website 1 (default connection) sells every product, website 3 (its own dmfrec)
        // none; both views carry the same links, each split under the byte budget.
        $enabled = ['' => ['https://reco.example', 's'], 1 => ['https://reco.example', 's'],
            3 => ['https://eu.reco.example', 's3']];
        $states = array_map(static fn (int $k) => ['sku' => "P-$k", 'enabled' => 1, 'visible' => 1,
            'in_stock' => true, 'website_ids' => [1, 3], 'salable' => [1 => true, 3 => false],
            'related' => array_map(static fn (int $j) => str_repeat('r', 60) . $j, range(1, LinkRows::MAX)),
            'upsell' => ["P-$k", 'U-1']], range(1, 500));
        $messages = (new CatalogBatch(500))->messages($states, 1795750000.0,
            CatalogBatch::targets($enabled), CatalogBatch::served($enabled));
        foreach ([null, 3] as $website) {
            $mine = array_values(array_filter($messages, static fn ($m) => $m->websiteId === $website));
            self::assertGreaterThan(1, count($mine));
            $sent = [];
            foreach ($mine as $message) {
                self::assertLessThan(StateChunks::MAX_BYTES + 1000, strlen($message->payload));
                $sent = array_merge($sent, json_decode($message->payload, true)['products']);
            }
            self::assertSame(array_column($states, 'sku'), array_column($sent, 'sku'));
            self::assertSame([$website === null], array_values(array_unique(array_column($sent, 'in_stock'))));
            self::assertSame([1], $sent[0]['website_ids']);
            self::assertCount(LinkRows::MAX, $sent[0]['related']);
            self::assertSame(['U-1'], $sent[499]['upsell']);  // never the product itself
        }
    }
}
