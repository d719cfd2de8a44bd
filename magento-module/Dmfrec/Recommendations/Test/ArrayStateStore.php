<?php
/**
 * The breaker's state in a PHP array with expiry on a clock: what Magento's cache does for
 * Breaker\CacheStateStore. One instance shared by several Breaker and Delivery objects stands
 * for the cache that the store's PHP requests share.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test;

use Dmfrec\Recommendations\Model\Breaker\StateStore;

class ArrayStateStore implements StateStore
{
    /** @var array<string, array{0: array{failures: int, until: int}, 1: int}> key => [state, expires] */
    public array $entries = [];
    /** @var callable(): int */
    private $clock;

    public function __construct(callable $clock)
    {
        $this->clock = $clock;
    }

    public function load(string $key): ?array
    {
        [$state, $expires] = $this->entries[$key] ?? [null, 0];
        return $expires > ($this->clock)() ? $state : null;
    }

    public function save(string $key, array $state, int $ttl): void
    {
        $this->entries[$key] = [$state, ($this->clock)() + $ttl];
    }

    public function remove(string $key): void
    {
        unset($this->entries[$key]);
    }
}
