<?php
/** Delivery settings for the tests: one default connection, optional per-website ones. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test;

use Dmfrec\Recommendations\Model\Settings;

class StubSettings implements Settings
{
    /** @param array<int, array{0: string, 1: string}> $websites website id => [URL, secret] */
    public function __construct(
        private readonly string $url,
        private readonly string $secret,
        private readonly array $websites = [],
        private readonly int $batchSize = 10,
        private readonly int $breakerFailures = 3,
        private readonly int $breakerCoolDown = 60,
        private readonly float $immediateTimeout = 2.0
    ) {
    }

    public function isEnabled(): bool
    {
        return true;
    }

    public function endpoint(?int $websiteId = null): string
    {
        return $this->websites[$websiteId][0] ?? $this->url;
    }

    public function webhookSecret(?int $websiteId = null): string
    {
        return $this->websites[$websiteId][1] ?? $this->secret;
    }

    public function immediateTimeout(): float
    {
        return $this->immediateTimeout;
    }

    public function timeout(): float
    {
        return 5.0;
    }

    public function batchSize(): int
    {
        return $this->batchSize;
    }

    public function retentionDays(): int
    {
        return 7;
    }

    public function breakerFailures(): int
    {
        return $this->breakerFailures;
    }

    public function breakerCoolDown(): int
    {
        return $this->breakerCoolDown;
    }
}
