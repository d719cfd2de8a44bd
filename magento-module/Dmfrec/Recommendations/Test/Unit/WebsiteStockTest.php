<?php
/**
 * Stock per website (MSI): salability asked once per stock and spread to the websites that
 * sell from it, and what each dmfrec connection is told.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\Catalog\WebsiteStock;
use Dmfrec\Recommendations\Model\CatalogBatch;
use PHPUnit\Framework\TestCase;

class WebsiteStockTest extends TestCase
{
    public function testEachStockIsAskedOnceAndItsAnswerGoesToItsWebsites(): void
    {
        // Websites 1 and 2 sell from the default stock (1), website 3 from stock 2 ("eu"),
        // website 4 has no stock assigned.
        $codes = [1 => 'base', 2 => 'outlet', 3 => 'eu', 4 => 'new'];
        $stocks = ['base' => 1, 'outlet' => 1, 'eu' => 2, 'new' => null];
        $asked = [];
        $answers = [1 => ['A' => true, 'B' => false, '100' => true], 2 => ['A' => false, 'B' => true]];
        $salable = (new WebsiteStock())->salableByWebsite(['A', 'B', 'A', '100'], $codes,
            static fn (string $code): ?int => $stocks[$code],
            static function (array $skus, int $stockId) use (&$asked, $answers): array {
                $asked[] = [$stockId, $skus];
                return $answers[$stockId];
            });
        self::assertSame([[1, ['A', 'B', '100']], [2, ['A', 'B', '100']]], $asked);
        self::assertSame([1 => true, 2 => true, 3 => false, 4 => false], $salable['A']);
        self::assertSame([1 => false, 2 => false, 3 => true, 4 => false], $salable['B']);
        self::assertSame([1 => true, 2 => true, 3 => false, 4 => false], $salable['100']);  // numeric SKU
        self::assertSame([], (new WebsiteStock())->salableByWebsite([], $codes,
            static fn (): int => 1, static fn (): array => self::fail('nothing to ask')));
    }

    public function testAConnectionIsToldAboutTheWebsitesItServes(): void
    {
        $stock = new WebsiteStock();
        // Assigned to websites 1 and 3; salable on 1 only.
        $salable = [1 => true, 2 => true, 3 => false];
        self::assertSame(['in_stock' => true, 'website_ids' => [1]], $stock->view([3, 1, 1], $salable));
        self::assertSame(['in_stock' => true, 'website_ids' => [1]], $stock->view([1, 3], $salable, [1, 2]));
        self::assertSame(['in_stock' => false, 'website_ids' => [1]], $stock->view([1, 3], $salable, [3]));
        // Salable in website 2's stock, but not assigned to website 2: not sold there.
        self::assertSame(['in_stock' => false, 'website_ids' => [1]], $stock->view([1, 3], $salable, [2]));
        self::assertSame(['in_stock' => false, 'website_ids' => []], $stock->view([3], $salable));
        self::assertSame(['in_stock' => false, 'website_ids' => []], $stock->view([], $salable));
    }

    public function testSoldOutOnOneOfItsWebsitesCounts(): void
    {
        $stock = new WebsiteStock();
        self::assertFalse($stock->soldOutSomewhere(['in_stock' => true, 'website_ids' => [1, 3]]));
        self::assertTrue($stock->soldOutSomewhere(['in_stock' => false, 'website_ids' => [1]]));
        $row = ['in_stock' => true, 'website_ids' => [1, 3], 'salable' => [1 => true, 3 => false]];
        self::assertTrue($stock->soldOutSomewhere($row));
        $row['salable'][3] = true;
        self::assertFalse($stock->soldOutSomewhere($row));
        self::assertTrue($stock->soldOutSomewhere(['website_ids' => [5], 'salable' => [1 => true]]));
    }

    public function testConnectionsServingOtherWebsitesGetTheirOwnBodies(): void
    {
        // Websites 1 and 2 use the default connection, 3 its own dmfrec, 4 the default URL
        // with its own secret.
        $enabled = ['' => ['https://reco.example', 's'], 1 => ['https://reco.example', 's'],
            2 => ['https://reco.example/', 's'], 3 => ['https://eu.reco.example', 's3'],
            4 => ['https://reco.example', 's4']];
        $targets = CatalogBatch::targets($enabled);
        $served = CatalogBatch::served($enabled);
        self::assertSame([null, 3, 4], $targets);
        self::assertSame(['' => [1, 2], 3 => [3], 4 => [4]], $served);

        // A: salable on websites 1 and 2 (default stock), sold out in website 3's stock.
        $states = [['sku' => 'A', 'enabled' => 1, 'visible' => 1, 'in_stock' => true,
            'website_ids' => [1, 3], 'salable' => [1 => true, 2 => true, 3 => false, 4 => true]]];
        $messages = (new CatalogBatch())->messages($states, 1795750000.0, $targets, $served);
        self::assertSame([null, 3, 4], array_map(static fn ($m) => $m->websiteId, $messages));
        $products = array_map(static fn ($m) => json_decode($m->payload, true)['products'][0], $messages);
        self::assertTrue($products[0]['in_stock']);
        self::assertFalse($products[1]['in_stock']);  // website 3's stock is sold out
        self::assertFalse($products[2]['in_stock']);  // website 4 does not sell A (not assigned)
        self::assertSame([[1], [1], [1]], array_column($products, 'website_ids'));
        self::assertNotSame($messages[0]->eventId, $messages[1]->eventId);
        self::assertSame($messages[1]->eventId, $messages[2]->eventId);  // the same view: one body
        self::assertSame('products:' . $messages[1]->eventId . ':w3', $messages[1]->subject);

        // Without per-website stock every connection gets the same body, as before.
        unset($states[0]['salable']);
        $plain = (new CatalogBatch())->messages($states, 1795750000.0, $targets, $served);
        self::assertCount(1, array_unique(array_map(static fn ($m) => $m->payload, $plain)));
        self::assertSame([1, 3], json_decode($plain[0]->payload, true)['products'][0]['website_ids']);
    }
}
