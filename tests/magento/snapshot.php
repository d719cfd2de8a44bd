<?php
// Builds snapshots with the module's SnapshotBuilder from the Magento-shaped rows in the JSON
// file given as argument: one {order, items, website_id} object, or a list of them.
declare(strict_types=1);

require dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/bootstrap.php';

$rows = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$builder = new \Dmfrec\Recommendations\Model\SnapshotBuilder();
$build = static fn (array $r) => $builder->build($r['order'], $r['items'], $r['website_id'] ?? null);
echo json_encode(array_is_list($rows) ? array_map($build, $rows) : $build($rows), JSON_UNESCAPED_UNICODE), "\n";
