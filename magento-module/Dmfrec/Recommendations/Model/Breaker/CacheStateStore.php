<?php
/**
 * The breaker's state in Magento's cache (the default cache frontend: Redis or files, shared
 * by every PHP request and server of the store). A cache flush closes the breaker, which only
 * costs the next send its timeout if dmfrec is still down.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Breaker;

use Magento\Framework\App\CacheInterface;

class CacheStateStore implements StateStore
{
    public function __construct(private readonly CacheInterface $cache)
    {
    }

    public function load(string $key): ?array
    {
        $raw = $this->cache->load($key);
        $state = is_string($raw) ? json_decode($raw, true) : null;
        return is_array($state) && isset($state['failures'], $state['until'])
            ? ['failures' => (int) $state['failures'], 'until' => (int) $state['until']] : null;
    }

    public function save(string $key, array $state, int $ttl): void
    {
        $this->cache->save((string) json_encode($state), $key, [], $ttl);
    }

    public function remove(string $key): void
    {
        $this->cache->remove($key);
    }
}
