<?php
/** The little SQL the outbox needs: Magento's connection in the shop, PDO in tests. */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Model\Outbox;

interface Connection
{
    /** The real name of a table (Magento adds its table prefix). */
    public function table(string $name): string;

    /**
     * @param array<string, scalar|null> $bind named parameters
     * @return int affected rows
     */
    public function execute(string $sql, array $bind = []): int;

    /**
     * @param array<string, scalar|null> $bind named parameters
     * @return array<int, array<string, mixed>>
     */
    public function fetchAll(string $sql, array $bind = []): array;
}
