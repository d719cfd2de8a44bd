<?php
/**
 * The outbox and the sender on a real database and a real HTTP server: what is kept, replaced,
 * retried, given up on and pruned, and what goes over the wire.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Integration;

use Dmfrec\Recommendations\Model\Backoff;
use Dmfrec\Recommendations\Model\Breaker;
use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\ErasureRequest;
use Dmfrec\Recommendations\Model\Outbox\Message;
use Dmfrec\Recommendations\Model\Outbox\Store;
use Dmfrec\Recommendations\Model\Sender;
use Dmfrec\Recommendations\Model\Signer;
use Dmfrec\Recommendations\Test\ArrayStateStore;
use Dmfrec\Recommendations\Test\StubSettings;
use PHPUnit\Framework\TestCase;

class DeliveryTest extends TestCase
{
    private const SECRET = 'whsec_c2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA=';
    private static string $url;
    private static string $dir;
    /** @var resource */
    private static $server;
    private \PDO $pdo;
    private Store $store;
    private ArrayStateStore $cache;
    private int $now = 1795750000;

    public static function setUpBeforeClass(): void
    {
        [self::$url, self::$dir, self::$server] = Fixtures::server();
    }

    public static function tearDownAfterClass(): void
    {
        proc_terminate(self::$server);
    }

    protected function setUp(): void
    {
        $this->pdo = Fixtures::pdo();
        Fixtures::createTables($this->pdo, 'pfx_');
        $this->store = new Store(Fixtures::connection($this->pdo, 'pfx_'), new Backoff(3));
        $this->cache = new ArrayStateStore(fn () => $this->now);
        @unlink(self::$dir . '/requests.jsonl');
        $this->answer(202);
    }

    private function answer(int $status): void
    {
        file_put_contents(self::$dir . '/status', (string) $status);
    }

    /**
     * A Delivery as one PHP request builds it; every one shares the breaker's state (the cache).
     *
     * @param array<int, array{0: string, 1: string}> $websites website id => [URL, secret]
     */
    private function delivery(string $endpoint = '', array $websites = []): Delivery
    {
        $settings = new StubSettings($endpoint ?: self::$url, self::SECRET, $websites);
        return new Delivery($this->store, new Sender(), $settings, new Breaker($this->cache, $settings),
            fn () => $this->now);
    }

    private static function order(string $version, string $eventId, string $email = 'anna@example.com'): Message
    {
        $payload = json_encode(['event_id' => $eventId, 'order' => ['entity_id' => 7, 'customer_email' => $email]]);
        return new Message('order:7', $eventId, $version, Message::ORDERS, (string) $payload);
    }

    public function testDeliveredAtOnceSignedWithoutExpectAndKeptWithoutPayload(): void
    {
        $big = self::order('2026-01-01 00:00:00|1', 'evt-1', str_repeat('x', 1500000) . '@example.com');
        self::assertSame('sent', $this->delivery()->deliver($big));
        [$request] = Fixtures::requests(self::$dir);
        self::assertNull($request['expect']);  // no `Expect: 100-continue`, even for 1.5 MB
        self::assertSame(['/v1/webhooks/magento/orders', 'evt-1', strlen($big->payload)],
            [$request['path'], $request['webhook_id'], $request['bytes']]);
        self::assertSame((new Signer())->sign(self::SECRET, 'evt-1', $this->now, $big->payload),
            $request['webhook_signature']);
        $row = $this->store->get('order:7');
        self::assertSame(['sent', null, '0'], [$row['status'], $row['payload'], (string) $row['attempts']]);
        // The same snapshot again: nothing is sent, nothing changes.
        self::assertSame('sent', $this->delivery()->deliver($big));
        self::assertCount(1, Fixtures::requests(self::$dir));
    }

    public function testAFailureBacksOffAndThePendingRowKeepsItsPayloadAndBackoff(): void
    {
        $this->answer(503);
        $first = self::order('2026-01-01 00:00:00|1', 'evt-1');
        self::assertSame('pending', $this->delivery()->deliver($first));
        $row = $this->store->get('order:7');
        self::assertSame(['1', Store::time($this->now + 30)], [(string) $row['attempts'], $row['next_attempt_at']]);
        self::assertStringStartsWith('HTTP 503', $row['last_error']);

        // The same event again, later: no send, the backoff stands.
        $this->now += 5;
        self::assertSame('pending', $this->delivery()->deliver($first));
        self::assertCount(1, Fixtures::requests(self::$dir));
        self::assertSame($row, $this->store->get('order:7'));

        // A newer snapshot replaces the payload but keeps the backoff; an older one changes nothing.
        $newer = self::order('2026-01-01 00:00:05|1', 'evt-2');
        $this->delivery()->deliver($newer);
        $after = $this->store->get('order:7');
        self::assertSame(['evt-2', $newer->payload, '1', $row['next_attempt_at']],
            [$after['event_id'], $after['payload'], (string) $after['attempts'], $after['next_attempt_at']]);
        $this->delivery()->deliver(self::order('2026-01-01 00:00:03|9', 'evt-old'));
        self::assertSame($after, $this->store->get('order:7'));
        self::assertCount(1, Fixtures::requests(self::$dir));

        // Due: cron's drain sends the newest payload.
        $this->answer(202);
        self::assertSame([0, 0], $this->delivery()->drain());
        $this->now += 30;
        self::assertSame([1, 0], $this->delivery()->drain());
        self::assertSame('evt-2', Fixtures::requests(self::$dir)[1]['webhook_id']);
        self::assertSame('sent', $this->store->get('order:7')['status']);

        // After delivery a newer snapshot is pending again and sent at once.
        self::assertSame('sent', $this->delivery()->deliver(self::order('2026-01-02 00:00:00|1', 'evt-3')));
        self::assertCount(3, Fixtures::requests(self::$dir));
    }

    public function testAttemptsAreCappedAndTheRowStaysVisibleAsFailed(): void
    {
        $this->answer(500);
        $this->delivery()->deliver(self::order('v1', 'evt-1'));
        for ($i = 0; $i < 5; $i++) {
            $this->now += Backoff::MAX_DELAY_S;
            $this->delivery()->drain();
        }
        $row = $this->store->get('order:7');
        self::assertSame(['failed', '3'], [$row['status'], (string) $row['attempts']]);
        self::assertCount(3, Fixtures::requests(self::$dir));
        self::assertNotNull($row['payload']);  // kept for a manual retry
        self::assertSame(1, $this->store->stats()['failed']['count']);
        self::assertSame('evt-1', $this->store->failures()[0]['event_id']);

        $this->answer(202);
        self::assertSame(1, $this->store->retry($this->now));
        self::assertSame([1, 0], $this->delivery()->drain());
        $stats = $this->store->stats();
        self::assertSame([1, 0, 0], [$stats['sent']['count'], $stats['failed']['count'], $stats['pending']['count']]);
    }

    public function testARejectedEventFailsAtOnceAndAnUnreachableServerIsRetried(): void
    {
        $this->answer(400);
        self::assertSame('failed', $this->delivery()->deliver(self::order('v1', 'evt-1')));
        self::assertSame('1', (string) $this->store->get('order:7')['attempts']);

        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $closed = 'http://' . stream_socket_get_name($probe, false);
        fclose($probe);
        $message = new Message('erase:customer:1', 'erase-1', '1', Message::ERASE, '{"customer_id":"1"}');
        self::assertSame('pending', $this->delivery($closed)->deliver($message));
        self::assertStringStartsWith('curl:', $this->store->get('erase:customer:1')['last_error']);
    }

    public function testDeliveredRowsArePrunedAfterTheRetention(): void
    {
        $this->delivery()->deliver(self::order('v1', 'evt-1'));
        $this->answer(503);
        $this->delivery()->deliver(new Message('order:8', 'evt-8', 'v1', Message::ORDERS, '{}'));
        $this->now += 7 * 86400;
        self::assertSame(0, $this->delivery()->prune());
        $this->now += 1;
        self::assertSame(1, $this->delivery()->prune());
        self::assertNull($this->store->get('order:7'));
        self::assertSame('pending', $this->store->get('order:8')['status']);  // never pruned
    }

    public function testADeletedCustomersErasureIsSignedSentAndForgotten(): void
    {
        $messages = (new ErasureRequest())->messages('42', 'anna@example.com', $this->now);
        foreach ($messages as $message) {
            self::assertSame('sent', $this->delivery()->deliver($message));
        }
        $requests = Fixtures::requests(self::$dir);
        self::assertSame(['/admin/erase', '/admin/erase'], array_column($requests, 'path'));
        foreach ($messages as $k => $message) {
            self::assertSame(hash('sha256', $message->payload), $requests[$k]['sha256']);
            self::assertSame((new Signer())->sign(self::SECRET, $message->eventId, $this->now, $message->payload),
                $requests[$k]['webhook_signature']);
            self::assertNull($this->store->get($message->subject)['payload']);  // no email kept
        }
        $dump = json_encode($this->pdo->query('SELECT * FROM pfx_dmfrec_outbox')->fetchAll(\PDO::FETCH_ASSOC));
        self::assertStringNotContainsString('anna', (string) $dump);
    }

    public function testWhileDmfrecIsDownNewOrdersDoNotWaitForItAndCronProbesOnce(): void
    {
        $order = static fn (int $n) => new Message("order:$n", "evt-$n", 'v1', Message::ORDERS, '{}');
        $this->answer(503);
        foreach ([1, 2, 3] as $n) {  // three checkouts in a row find dmfrec down
            self::assertSame('pending', $this->delivery()->deliver($order($n)));
            self::assertSame('1', (string) $this->store->get("order:$n")['attempts']);
        }
        // The next checkouts do not try it: no request, no attempt counted; the outbox keeps them.
        foreach ([4, 5] as $n) {
            self::assertSame('pending', $this->delivery()->deliver($order($n)));
            self::assertSame('0', (string) $this->store->get("order:$n")['attempts']);
        }
        self::assertCount(3, Fixtures::requests(self::$dir));

        // Cron within the cool-down leaves every due row for later; after it, one row is tried
        // (still down) and the others wait for the next cool-down.
        $this->now += 59;
        self::assertSame([0, 0], $this->delivery()->drain());
        $this->now += 2;
        self::assertSame([0, 1], $this->delivery()->drain());
        self::assertCount(4, Fixtures::requests(self::$dir));

        // dmfrec is back: checkouts still skip it until the next trial...
        $this->answer(202);
        self::assertSame('pending', $this->delivery()->deliver($order(6)));
        self::assertCount(4, Fixtures::requests(self::$dir));
        // ...which cron makes once the cool-down is over: delivered, so the breaker closes and
        // that same run sends every due row.
        $this->now += 60;
        self::assertSame([5, 0], $this->delivery()->drain());
        self::assertSame('sent', $this->delivery()->deliver($order(7)));  // at once again
        self::assertCount(10, Fixtures::requests(self::$dir));
    }

    public function testAnAdminsRetryIsNotHeldBackByTheBreaker(): void
    {
        $this->answer(503);
        foreach ([1, 2, 3] as $n) {
            $this->delivery()->deliver(new Message("order:$n", "evt-$n", 'v1', Message::ORDERS, '{}'));
        }
        $this->answer(202);
        self::assertSame(3, $this->store->retry($this->now));
        self::assertSame([0, 0], $this->delivery()->drain());  // cron: dmfrec is still taken as down
        self::assertSame([3, 0], $this->delivery()->drain(null, null, true));  // dmfrec:outbox:retry
    }

    public function testAnotherDmfrecKeepsReceivingWhileOneIsDown(): void
    {
        $this->answer(503);
        foreach ([1, 2, 3] as $n) {
            $this->delivery()->deliver(new Message("order:$n", "evt-$n", 'v1', Message::ORDERS, '{}'));
        }
        self::assertCount(3, Fixtures::requests(self::$dir));
        $this->answer(202);
        $this->delivery()->deliver(new Message('order:4', 'evt-4', 'v1', Message::ORDERS, '{}'));
        self::assertCount(3, Fixtures::requests(self::$dir));  // skipped: the breaker is open
        // Website 2 has its own dmfrec (another URL): not held back.
        $websites = [2 => [self::$url . '/site-two', self::SECRET]];
        $other = new Message('order:5', 'evt-5', 'v1', Message::ORDERS, '{}', 2);
        self::assertSame('sent', $this->delivery('', $websites)->deliver($other));
        self::assertSame('/site-two/v1/webhooks/magento/orders', Fixtures::requests(self::$dir)[3]['path']);
    }

    public function testEachMessageGoesToItsWebsitesConnectionAlsoWhenResentFromTheOutbox(): void
    {
        $other = 'whsec_' . base64_encode('the-second-website-secret-32-bytes');
        $websites = [2 => [self::$url . '/site-two', $other], 3 => ['', 'unused']];
        $payload = (string) json_encode(['event_id' => 'evt-w2', 'order' => ['entity_id' => 8]]);
        $message = new Message('order:8', 'evt-w2', '2026-01-01 00:00:00|1', Message::ORDERS, $payload, 2);
        self::assertSame('sent', $this->delivery('', $websites)->deliver($message));
        $default = new Message('order:9', 'evt-d', '2026-01-01 00:00:00|1', Message::ORDERS, '{}');
        self::assertSame('sent', $this->delivery('', $websites)->deliver($default));
        [$first, $second] = Fixtures::requests(self::$dir);
        self::assertSame('/site-two/v1/webhooks/magento/orders', $first['path']);
        self::assertSame((new Signer())->sign($other, 'evt-w2', $this->now, $payload), $first['webhook_signature']);
        self::assertSame('/v1/webhooks/magento/orders', $second['path']);
        self::assertSame((new Signer())->sign(self::SECRET, 'evt-d', $this->now, '{}'), $second['webhook_signature']);
        self::assertSame('2', (string) $this->store->get('order:8')['website_id']);
        self::assertNull($this->store->get('order:9')['website_id']);

        // Failed now, resent by cron: the outbox row remembers the website.
        $this->answer(503);
        $later = new Message('order:8', 'evt-w2b', '2026-01-01 00:00:01|1', Message::ORDERS, $payload, 2);
        self::assertSame('pending', $this->delivery('', $websites)->deliver($later));
        $this->answer(202);
        $this->now += 3600;
        self::assertSame([1, 0], $this->delivery('', $websites)->drain());
        $resent = Fixtures::requests(self::$dir)[3];
        self::assertSame(['/site-two/v1/webhooks/magento/orders', 'evt-w2b'], [$resent['path'], $resent['webhook_id']]);
        self::assertSame((new Signer())->sign($other, 'evt-w2b', $this->now, $payload), $resent['webhook_signature']);

        // A website without a URL: nothing is sent, the row waits with the reason.
        $nowhere = new Message('order:10', 'evt-w3', '2026-01-01 00:00:00|1', Message::ORDERS, '{}', 3);
        self::assertSame('pending', $this->delivery('', $websites)->deliver($nowhere));
        self::assertCount(4, Fixtures::requests(self::$dir));
        self::assertSame('no dmfrec URL configured for website 3', $this->store->get('order:10')['last_error']);
    }
}
