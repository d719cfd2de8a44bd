<?php
/**
 * Every minute (cron group `dmfrec`): resend what the immediate sends could not deliver, then
 * prune delivered rows older than the retention setting.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Cron;

use Dmfrec\Recommendations\Model\Config;
use Dmfrec\Recommendations\Model\Delivery;

class DrainOutbox
{
    public function __construct(private readonly Delivery $delivery, private readonly Config $config)
    {
    }

    public function execute(): void
    {
        if ($this->config->isEnabledAnywhere()) {
            $this->delivery->drain();
        }
        $this->delivery->prune();
    }
}
