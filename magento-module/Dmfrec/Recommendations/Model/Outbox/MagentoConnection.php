<?php
/** The outbox's SQL through Magento's default connection (table prefix included). */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Outbox;

use Magento\Framework\App\ResourceConnection;

class MagentoConnection implements Connection
{
    public function __construct(private readonly ResourceConnection $resource)
    {
    }

    public function table(string $name): string
    {
        return $this->resource->getTableName($name);
    }

    public function execute(string $sql, array $bind = []): int
    {
        return $this->resource->getConnection()->query($sql, $bind)->rowCount();
    }

    public function fetchAll(string $sql, array $bind = []): array
    {
        return $this->resource->getConnection()->fetchAll($sql, $bind);
    }
}
