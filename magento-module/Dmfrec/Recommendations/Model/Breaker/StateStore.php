<?php
/**
 * Where the breaker keeps its small state per dmfrec URL, shared by every PHP request of the
 * store (Magento's cache in the shop: Breaker\CacheStateStore). Entries expire after $ttl
 * seconds, so failures long ago no longer count.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Breaker;

interface StateStore
{
    /** @return array{failures: int, until: int}|null */
    public function load(string $key): ?array;

    /** @param array{failures: int, until: int} $state */
    public function save(string $key, array $state, int $ttl): void;

    public function remove(string $key): void;
}
