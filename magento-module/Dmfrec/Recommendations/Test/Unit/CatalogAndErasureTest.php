<?php
/** Product state batches and erasure requests, as dmfrec's endpoints take them. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\CatalogBatch;
use Dmfrec\Recommendations\Model\ErasureRequest;
use PHPUnit\Framework\TestCase;

class CatalogAndErasureTest extends TestCase
{
    public function testStatesAreBatchedDeduplicatedAndNormalised(): void
    {
        $states = [
            ['sku' => 'A', 'enabled' => '1', 'visible' => 1, 'in_stock' => true, 'website_ids' => ['2', 1, '1']],
            ['sku' => ' B ', 'enabled' => 0, 'visible' => true, 'in_stock' => true, 'website_ids' => []],
            ['sku' => 'A', 'enabled' => 1, 'visible' => 1, 'in_stock' => false, 'website_ids' => [1]],
            ['sku' => 'C', 'deleted' => true],
            ['sku' => '  '],
        ];
        $messages = (new CatalogBatch(2))->messages($states, 1795750000.25);
        self::assertCount(2, $messages);
        $bodies = array_map(static fn ($m) => json_decode($m->payload, true), $messages);
        self::assertSame('2026-11-27T03:26:40.250000Z', $bodies[0]['occurred_at']);
        self::assertSame([
            ['sku' => 'A', 'enabled' => true, 'visible' => true, 'in_stock' => false, 'website_ids' => [1]],
            ['sku' => 'B', 'enabled' => false, 'visible' => true, 'in_stock' => true, 'website_ids' => []],
        ], $bodies[0]['products']);
        self::assertSame([['sku' => 'C', 'deleted' => true]], $bodies[1]['products']);
        foreach ($messages as $i => $message) {
            self::assertSame($bodies[$i]['event_id'], $message->eventId);
            self::assertSame('products:' . $message->eventId, $message->subject);
            self::assertSame('/v1/webhooks/magento/products', $message->path);
        }
        self::assertNotSame($messages[0]->eventId, $messages[1]->eventId);
        // The same states at the same time are the same event (a resend is a duplicate).
        self::assertSame($messages[0]->eventId, (new CatalogBatch(2))->messages($states, 1795750000.25)[0]->eventId);
        self::assertSame([], (new CatalogBatch())->messages([['sku' => '']], 1.0));
    }

    public function testEveryDistinctConnectionGetsTheCatalogueAsItsOwnOutboxRow(): void
    {
        // The default connection, website 2 on the same dmfrec (skipped), website 3 on its own,
        // website 4 with the same URL but another secret (its own), website 5 without a URL.
        $targets = CatalogBatch::targets(['' => ['https://reco.example/', 's'], 2 => ['https://reco.example', 's'],
            3 => ['https://eu.reco.example', 's3'], 4 => ['https://reco.example', 's4'], 5 => ['', 's']]);
        self::assertSame([null, 3, 4], $targets);
        self::assertSame([3], CatalogBatch::targets([3 => ['https://eu.reco.example', 's3']]));

        $messages = (new CatalogBatch())->messages([['sku' => 'A', 'enabled' => 1]], 1795750000.0, $targets);
        self::assertCount(3, $messages);
        self::assertSame([null, 3, 4], array_map(static fn ($m) => $m->websiteId, $messages));
        $id = $messages[0]->eventId;
        self::assertSame(['products:' . $id, 'products:' . $id . ':w3', 'products:' . $id . ':w4'],
            array_map(static fn ($m) => $m->subject, $messages));
        self::assertCount(1, array_unique(array_map(static fn ($m) => $m->payload, $messages)));
        self::assertSame([], (new CatalogBatch())->messages([['sku' => 'A']], 1.0, []));
    }

    public function testErasureRequestsGoToTheCustomersWebsiteConnection(): void
    {
        $messages = (new ErasureRequest())->messages('42', 'anna@example.com', 1795750000, 3);
        self::assertSame([3, 3], array_map(static fn ($m) => $m->websiteId, $messages));
        self::assertSame([null], array_map(static fn ($m) => $m->websiteId,
            (new ErasureRequest())->messages('42', null, 1795750000)));
    }

    public function testErasureByIdAndByEmailKeepsTheEmailOutOfTheSubject(): void
    {
        $messages = (new ErasureRequest())->messages('42', ' Anna@Example.com ', 1795750000);
        self::assertCount(2, $messages);
        self::assertSame(['customer_id' => '42'], json_decode($messages[0]->payload, true));
        self::assertSame(['email' => 'Anna@Example.com'], json_decode($messages[1]->payload, true));
        self::assertSame('erase:customer:42', $messages[0]->subject);
        self::assertStringNotContainsStringIgnoringCase('anna', $messages[1]->subject);
        self::assertSame('/admin/erase', $messages[1]->path);
        self::assertCount(1, (new ErasureRequest())->messages('7', null, 1));
    }
}
