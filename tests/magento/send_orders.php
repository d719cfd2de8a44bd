<?php
// Drives the module's framework-free delivery as the order observer does, against a real
// dmfrec: per order, commit a sales_order row, then build its snapshot and deliver it (outbox
// row + immediate signed send). Prints JSON: per order the seconds from commit to the answer,
// and the delivery status. Arguments: dmfrec base URL, webhook secret, PDO DSN, orders
// [, timeout of the send right after the commit, seconds (default 2)]. The breaker's state
// lives in this process (Magento shares it through its cache).
declare(strict_types=1);

require dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/bootstrap.php';
require dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/Integration/Fixtures.php';

use Dmfrec\Recommendations\Model\Backoff;
use Dmfrec\Recommendations\Model\Breaker;
use Dmfrec\Recommendations\Model\Delivery;
use Dmfrec\Recommendations\Model\Outbox\Store;
use Dmfrec\Recommendations\Model\Sender;
use Dmfrec\Recommendations\Model\SnapshotBuilder;
use Dmfrec\Recommendations\Test\ArrayStateStore;
use Dmfrec\Recommendations\Test\Integration\Fixtures;
use Dmfrec\Recommendations\Test\StubSettings;

[, $url, $secret, $dsn, $n, $timeout] = $argv + [5 => '2'];
putenv('DMFREC_TEST_MYSQL_DSN=' . $dsn);
$pdo = Fixtures::pdo();
Fixtures::createTables($pdo);
$pdo->exec('CREATE TABLE IF NOT EXISTS sales_order (entity_id INT UNSIGNED PRIMARY KEY, increment_id VARCHAR(50),'
    . ' state VARCHAR(32), customer_id INT UNSIGNED, updated_at DATETIME)');
$settings = new StubSettings($url, $secret, [], 100, 3, 60, (float) $timeout);
$delivery = new Delivery(new Store(Fixtures::connection($pdo), new Backoff()), new Sender(), $settings,
    new Breaker(new ArrayStateStore('time'), $settings));
$builder = new SnapshotBuilder();
$out = ['seconds' => [], 'statuses' => [], 'http_seconds' => []];
for ($i = 1; $i <= (int) $n; $i++) {
    $now = gmdate('Y-m-d H:i:s');
    $pdo->beginTransaction();
    $pdo->prepare('INSERT INTO sales_order VALUES (?, ?, ?, ?, ?)')
        ->execute([$i, sprintf('%09d', $i), 'processing', 100 + $i % 7, $now]);
    $pdo->commit();
    $committed = microtime(true);
    $order = ['entity_id' => $i, 'increment_id' => sprintf('%09d', $i), 'store_id' => 1, 'customer_id' => 100 + $i % 7,
        'customer_email' => "c$i@example.com", 'customer_is_guest' => 0, 'state' => 'processing',
        'status' => 'processing', 'created_at' => $now, 'updated_at' => $now,
        'order_currency_code' => 'EUR', 'base_currency_code' => 'USD', 'grand_total' => '10.0000'];
    $items = [['item_id' => $i * 10, 'product_id' => 5, 'sku' => 'SKU-' . ($i % 13), 'product_type' => 'simple',
        'qty_ordered' => '1.0000', 'qty_invoiced' => '1.0000', 'price' => '10.0000', 'row_total' => '10.0000',
        'base_price' => '11.0000', 'base_row_total' => '11.0000']];
    $status = $delivery->deliver($builder->message($builder->build($order, $items, 1)));
    $out['seconds'][] = microtime(true) - $committed;
    $out['statuses'][] = $status;
}
echo json_encode($out), "\n";
