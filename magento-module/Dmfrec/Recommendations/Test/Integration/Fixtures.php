<?php
/**
 * Real services for the integration tests: a MariaDB/MySQL database (DMFREC_TEST_MYSQL_DSN)
 * with the outbox table made from etc/db_schema.xml, and a `php -S` stand-in for dmfrec.
 */
declare(strict_types=1);

namespace Dmfrec\Recommendations\Test\Integration;

use Dmfrec\Recommendations\Model\Outbox\Connection;

class Fixtures
{
    public static function pdo(): \PDO
    {
        $dsn = getenv('DMFREC_TEST_MYSQL_DSN');
        if (!$dsn) {
            throw new \RuntimeException('DMFREC_TEST_MYSQL_DSN is required (a PDO DSN of an empty database)');
        }
        $pdo = new \PDO($dsn, getenv('DMFREC_TEST_MYSQL_USER') ?: 'root',
            getenv('DMFREC_TEST_MYSQL_PASSWORD') ?: '', [\PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION]);
        $pdo->exec("SET time_zone = '+00:00'");
        return $pdo;
    }

    /**
     * CREATE TABLE for each of the module's own tables in etc/db_schema.xml (the column types
     * it uses); the columns it adds to Magento's tables (sales_order) are not tables here.
     */
    public static function createTables(\PDO $pdo, string $prefix = ''): void
    {
        $xml = simplexml_load_file(dirname(__DIR__, 2) . '/etc/db_schema.xml');
        $xsi = 'http://www.w3.org/2001/XMLSchema-instance';
        foreach ($xml->table as $table) {
            if (strncmp((string) $table['name'], 'dmfrec_', 7) !== 0) {
                continue;
            }
            $name = $prefix . $table['name'];
            $parts = [];
            foreach ($table->column as $column) {
                $type = (string) $column->attributes($xsi)['type'];
                $sql = '`' . $column['name'] . '` ' . match ($type) {
                    'varchar' => 'VARCHAR(' . $column['length'] . ')',
                    'int', 'smallint' => strtoupper($type) . ((string) $column['unsigned'] === 'true' ? ' UNSIGNED' : ''),
                    'mediumtext', 'datetime', 'timestamp', 'text' => strtoupper($type),
                };
                $sql .= (string) $column['nullable'] === 'false' ? ' NOT NULL' : ' NULL';
                if (isset($column['default'])) {
                    $sql .= is_numeric((string) $column['default']) ? ' DEFAULT ' . $column['default']
                        : " DEFAULT '" . $column['default'] . "'";
                }
                if ((string) $column['identity'] === 'true') {
                    $sql .= ' AUTO_INCREMENT';
                }
                $parts[] = $sql;
            }
            foreach ($table->constraint as $constraint) {
                $cols = [];
                foreach ($constraint->column as $c) {
                    $cols[] = '`' . $c['name'] . '`';
                }
                $kind = (string) $constraint->attributes($xsi)['type'];
                $parts[] = ($kind === 'primary' ? 'PRIMARY KEY' : 'UNIQUE KEY `' . $constraint['referenceId'] . '`')
                    . ' (' . implode(', ', $cols) . ')';
            }
            foreach ($table->index as $index) {
                $cols = [];
                foreach ($index->column as $c) {
                    $cols[] = '`' . $c['name'] . '`';
                }
                $parts[] = 'KEY `' . $index['referenceId'] . '` (' . implode(', ', $cols) . ')';
            }
            $pdo->exec('DROP TABLE IF EXISTS `' . $name . '`');
            $pdo->exec('CREATE TABLE `' . $name . '` (' . implode(', ', $parts) . ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4');
        }
    }

    public static function connection(\PDO $pdo, string $prefix = ''): Connection
    {
        return new class($pdo, $prefix) implements Connection {
            public function __construct(private \PDO $pdo, private string $prefix)
            {
            }

            public function table(string $name): string
            {
                return $this->prefix . $name;
            }

            public function execute(string $sql, array $bind = []): int
            {
                $statement = $this->pdo->prepare($sql);
                $statement->execute($bind);
                return $statement->rowCount();
            }

            public function fetchAll(string $sql, array $bind = []): array
            {
                $statement = $this->pdo->prepare($sql);
                $statement->execute($bind);
                return $statement->fetchAll(\PDO::FETCH_ASSOC);
            }
        };
    }

    /**
     * Start `php -S` with the router; returns [base URL, its log directory, process].
     *
     * @return array{0: string, 1: string, 2: resource}
     */
    public static function server(): array
    {
        $dir = sys_get_temp_dir() . '/dmfrec-router-' . bin2hex(random_bytes(6));
        mkdir($dir);
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr((string) strrchr((string) stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $process = proc_open([PHP_BINARY, '-S', '127.0.0.1:' . $port, __DIR__ . '/_files/router.php'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes, null, ['DMFREC_ROUTER_DIR' => $dir]);
        for ($i = 0; $i < 100; $i++) {
            $socket = @fsockopen('127.0.0.1', $port, $errno, $errstr, 0.1);
            if ($socket) {
                fclose($socket);
                return ['http://127.0.0.1:' . $port, $dir, $process];
            }
            usleep(50000);
        }
        throw new \RuntimeException('php -S did not start');
    }

    /** @return array<int, array<string, mixed>> the requests the stand-in received */
    public static function requests(string $dir): array
    {
        $file = $dir . '/requests.jsonl';
        if (!is_file($file)) {
            return [];
        }
        return array_map(static fn ($l) => json_decode($l, true),
            array_filter(explode("\n", (string) file_get_contents($file))));
    }
}
