<?php
/**
 * Signing, token minting, snapshot building and backoff against the vectors the Python tests
 * share (_files/vectors.json): dmfrec verifies exactly what this module makes.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\Backoff;
use Dmfrec\Recommendations\Model\Signer;
use Dmfrec\Recommendations\Model\SnapshotBuilder;
use Dmfrec\Recommendations\Model\TokenMinter;
use PHPUnit\Framework\TestCase;

class VectorsTest extends TestCase
{
    /** @return array<string, mixed> */
    private static function vectors(): array
    {
        return json_decode((string) file_get_contents(__DIR__ . '/_files/vectors.json'), true, 512,
            JSON_THROW_ON_ERROR);
    }

    public function testSignaturesMatchTheVectors(): void
    {
        $signer = new Signer();
        foreach (self::vectors()['signatures'] as $v) {
            self::assertSame($v['signature'], $signer->sign($v['secret'], $v['msg_id'], $v['timestamp'], $v['body']));
            $headers = $signer->headers($v['secret'], $v['msg_id'], $v['timestamp'], $v['body']);
            self::assertSame([$v['msg_id'], (string) $v['timestamp'], $v['signature']],
                [$headers['webhook-id'], $headers['webhook-timestamp'], $headers['webhook-signature']]);
        }
    }

    public function testAWhsecSecretMustBeBase64(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        (new Signer())->sign('whsec_not base64!', 'id', 1, '{}');
    }

    public function testTokensMatchTheVectors(): void
    {
        $minter = new TokenMinter();
        foreach (self::vectors()['tokens'] as $v) {
            self::assertSame($v['token'], $minter->mint($v['secret'], $v['customer_id'], $v['expires']));
        }
        $fresh = $minter->mintFor('s', '42', 600);
        self::assertEqualsWithDelta(time() + 600, (int) explode('.', $fresh)[2], 2);
    }

    public function testATokenNeedsASecret(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        (new TokenMinter())->mint('', '42', 2000000000);
    }

    public function testSnapshotsMatchTheVectors(): void
    {
        $builder = new SnapshotBuilder();
        foreach (self::vectors()['snapshots'] as $v) {
            $event = $builder->build($v['order'], $v['items'], $v['website_id']);
            self::assertSame($v['event_id'], $event['event_id']);
            $order = $event['order'];
            self::assertSame($v['version'], $builder->version($order));
            self::assertSame([1201, 42, 1, 'USD', '65.8900'], [$order['entity_id'], $order['customer_id'],
                $order['website_id'], $order['base_currency'], $order['base_grand_total']]);
            self::assertSame(['43.8900', '0.0000', '22.0000'], array_column($order['items'], 'base_row_total'));
            self::assertArrayNotHasKey('name', $order['items'][2]);  // NULL columns are left out
            self::assertSame(501, $order['items'][1]['parent_item_id']);

            $message = $builder->message($event);
            self::assertSame(['order:1201', $v['event_id'], '/v1/webhooks/magento/orders'],
                [$message->subject, $message->eventId, $message->path]);
            self::assertSame($event, json_decode($message->payload, true));
        }
    }

    public function testProgressChangesTheEventIdAndRaisesTheVersion(): void
    {
        $builder = new SnapshotBuilder();
        $v = self::vectors()['snapshots'][0];
        $before = $builder->build($v['order'], $v['items']);
        $v['items'][2]['qty_refunded'] = '0.0000';
        $v['items'][0]['qty_refunded'] = '2.0000';  // same updated_at, more refunded
        $after = $builder->build($v['order'], $v['items']);
        self::assertNotSame($before['event_id'], $after['event_id']);
        self::assertGreaterThan($builder->version($before['order']), $builder->version($after['order']));
        $v['order']['updated_at'] = '2026-11-21 10:00:01';
        $later = $builder->build($v['order'], $v['items']);
        self::assertGreaterThan($builder->version($after['order']), $builder->version($later['order']));
        self::assertNotSame($after['event_id'], $later['event_id']);
    }

    public function testBackoffMatchesTheVectors(): void
    {
        $b = self::vectors()['backoff'];
        $backoff = new Backoff($b['max_attempts']);
        foreach ($b['delays'] as [$attempts, $seconds]) {
            self::assertSame($seconds, $backoff->delay($attempts), "after $attempts attempts");
        }
        foreach ($b['exhausted'] as [$attempts, $exhausted]) {
            self::assertSame($exhausted, $backoff->exhausted($attempts));
        }
    }
}
