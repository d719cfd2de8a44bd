<?php
/** The outbox store with the configured number of attempts (what di.xml hands out as Store). */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Outbox;

use Dmfrec\Recommendations\Model\Backoff;
use Dmfrec\Recommendations\Model\Config;

class ConfiguredStore extends Store
{
    public function __construct(Connection $db, Config $config)
    {
        parent::__construct($db, new Backoff($config->maxAttempts()));
    }
}
