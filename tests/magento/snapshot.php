<?php
// Builds a snapshot from the Magento-shaped rows in the JSON file given as argument.
declare(strict_types=1);

require dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/bootstrap.php';

$rows = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$builder = new \Dmfrec\Recommendations\Model\SnapshotBuilder();
echo json_encode($builder->build($rows['order'], $rows['items'], $rows['website_id'] ?? null), JSON_UNESCAPED_UNICODE), "\n";
