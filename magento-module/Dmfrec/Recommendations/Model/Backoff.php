<?php
/**
 * How long a failed delivery waits before the next try, and when it stops: 30 s doubling per
 * attempt up to 6 h; after the last attempt the row is kept as failed (visible to the admin,
 * resent by `bin/magento dmfrec:outbox:retry`).
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

class Backoff
{
    public const FIRST_DELAY_S = 30;
    public const MAX_DELAY_S = 6 * 3600;

    public function __construct(private readonly int $maxAttempts = 12)
    {
    }

    /** Seconds to wait after the $attempts-th failed attempt (1 = the first). */
    public function delay(int $attempts): int
    {
        $attempts = max(1, $attempts);
        return (int) min(self::MAX_DELAY_S, self::FIRST_DELAY_S * (2 ** min($attempts - 1, 20)));
    }

    /** Whether $attempts failed attempts use up the allowance. */
    public function exhausted(int $attempts): bool
    {
        return $attempts >= $this->maxAttempts;
    }

    public function maxAttempts(): int
    {
        return $this->maxAttempts;
    }
}
