<?php
/** Every minute: send the outbox's due snapshots to dmfrec. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Cron;

use Dmfrec\Recommendations\Model\Outbox;

class DrainOutbox
{
    public function __construct(private readonly Outbox $outbox)
    {
    }

    public function execute(): void
    {
        $this->outbox->drain();
    }
}
