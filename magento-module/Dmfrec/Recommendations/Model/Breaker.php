<?php
/**
 * A failure breaker for the immediate sends, per dmfrec URL and shared by every PHP request
 * (Breaker\StateStore): after `breakerFailures()` sends in a row that got no answer or a
 * server error, sends to that URL are skipped for `breakerCoolDown()` seconds, so checkouts
 * do not each wait out a timeout while dmfrec is down (the outbox keeps everything for cron).
 * Once the cool-down is over one caller tries (the others keep skipping for another
 * cool-down): a success closes the breaker, a failure opens it again. Read-modify-write on a
 * cache has no atomicity: two requests failing at once may count once, which only delays the
 * opening by a failure.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

use Dmfrec\Recommendations\Model\Breaker\StateStore;

class Breaker
{
    /** State entries outlive the cool-down this many times (older failures are forgotten). */
    private const TTL_COOL_DOWNS = 10;

    public function __construct(private readonly StateStore $store, private readonly Settings $settings)
    {
    }

    private static function key(string $url): string
    {
        return 'dmfrec_breaker_' . substr(hash('sha256', rtrim($url, '/')), 0, 32);
    }

    private function ttl(): int
    {
        return max(60, $this->settings->breakerCoolDown() * self::TTL_COOL_DOWNS);
    }

    /** Whether a send to $url may be tried at $now (closed, or the one trial after a cool-down). */
    public function allows(string $url, int $now): bool
    {
        $state = $this->store->load(self::key($url));
        if ($state === null || $state['failures'] < $this->settings->breakerFailures()) {
            return true;
        }
        if ($state['until'] > $now) {
            return false;
        }
        // This caller tries; the others skip until it has answered (or one more cool-down).
        $this->store->save(self::key($url), ['failures' => $state['failures'],
            'until' => $now + $this->settings->breakerCoolDown()], $this->ttl());
        return true;
    }

    /** Count the outcome of a send to $url: `SendResult::outage()` failures open the breaker. */
    public function record(string $url, SendResult $result, int $now): void
    {
        $key = self::key($url);
        if (!$result->outage()) {
            // dmfrec answered (a 4xx is the event's or the secret's fault, not an outage).
            if ($this->store->load($key) !== null) {
                $this->store->remove($key);
            }
            return;
        }
        $failures = ($this->store->load($key)['failures'] ?? 0) + 1;
        $open = $failures >= $this->settings->breakerFailures();
        $this->store->save($key, ['failures' => $failures,
            'until' => $open ? $now + $this->settings->breakerCoolDown() : 0], $this->ttl());
    }

    /** Whether sends to $url are being skipped at $now (for the admin's status). */
    public function isOpen(string $url, int $now): bool
    {
        $state = $this->store->load(self::key($url));
        return $state !== null && $state['failures'] >= $this->settings->breakerFailures()
            && $state['until'] > $now;
    }
}
