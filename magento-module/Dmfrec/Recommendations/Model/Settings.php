<?php
/** The delivery settings the framework-free classes need (Config implements it in the shop). */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model;

interface Settings
{
    public function isEnabled(): bool;

    /**
     * dmfrec's base URL without a trailing slash ('' when not configured), for $websiteId (the
     * connection may be set per website) or, when null, the default one.
     */
    public function endpoint(?int $websiteId = null): string;

    /** The webhook signing secret of that same connection. */
    public function webhookSecret(?int $websiteId = null): string;

    /** Seconds allowed for the send right after an order commits (the shopper waits). */
    public function immediateTimeout(): float;

    /** Seconds allowed for a send from cron or the command line. */
    public function timeout(): float;

    public function batchSize(): int;

    /** Immediate sends in a row without an answer (or with a 5xx) after which sends are skipped. */
    public function breakerFailures(): int;

    /** Seconds sends are skipped then, before one is tried again. */
    public function breakerCoolDown(): int;

    /** Days a delivered row is kept before it is pruned. */
    public function retentionDays(): int;
}
