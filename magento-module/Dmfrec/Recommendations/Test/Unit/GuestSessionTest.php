<?php
/**
 * The guest session id the module stamps on an order and sends as the snapshot's `session_id`:
 * only a well-formed id, only from a shopper's request; the snapshot carries it (or null).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Unit;

use Dmfrec\Recommendations\Model\GuestSession;
use Dmfrec\Recommendations\Model\SnapshotBuilder;
use PHPUnit\Framework\TestCase;

class GuestSessionTest extends TestCase
{
    private const SESSION = 's.Zm9vYmFyYmF6cXV4cXV1eA.0123456789abcdef0123';

    public function testOnlyAWellFormedIdIsTaken(): void
    {
        $sessions = new GuestSession();
        self::assertSame(self::SESSION, $sessions->valid(self::SESSION));
        foreach ([null, '', 'new', 's.abc', 's.a b.00', 's.ab.0F', "s.ab.00\n", 's.ab.00;x=1',
                     's.' . str_repeat('a', 60) . '.00', 42, ['s.ab.00']] as $bad) {
            self::assertNull($sessions->valid($bad), var_export($bad, true));
        }
    }

    public function testOnlyAShoppersRequestStampsTheOrder(): void
    {
        $sessions = new GuestSession();
        foreach (['frontend', 'webapi_rest', 'graphql'] as $area) {
            self::assertSame(self::SESSION, $sessions->fromCookie(self::SESSION, $area), $area);
        }
        foreach (['adminhtml', 'crontab', 'webapi_soap', null] as $area) {
            self::assertNull($sessions->fromCookie(self::SESSION, $area), (string) $area);
        }
        self::assertNull($sessions->fromCookie('forged<script>', 'frontend'));
        self::assertNull($sessions->fromCookie(null, 'frontend'));
    }

    public function testTheSnapshotSendsTheOrdersSessionAndItDoesNotChangeTheEventId(): void
    {
        $order = ['entity_id' => 5, 'increment_id' => '000000005', 'customer_id' => null,
            'customer_email' => 'guest@example.com', 'customer_is_guest' => 1, 'state' => 'new',
            'status' => 'pending', 'created_at' => '2026-12-01 10:00:00',
            'updated_at' => '2026-12-01 10:00:00'];
        $items = [['item_id' => 1, 'sku' => 'A', 'qty_ordered' => '1.0000', 'row_total' => '9.5000']];
        $builder = new SnapshotBuilder();
        $without = $builder->build($order, $items, 1);
        self::assertNull($without['order']['session_id']);
        $with = $builder->build($order + [GuestSession::COLUMN => self::SESSION], $items, 1);
        self::assertSame(self::SESSION, $with['order']['session_id']);
        // The session never changes over the order's life: the event id follows progress only.
        self::assertSame($without['event_id'], $with['event_id']);
        $tampered = $builder->build($order + [GuestSession::COLUMN => 'not-a-session'], $items, 1);
        self::assertNull($tampered['order']['session_id']);
    }
}
