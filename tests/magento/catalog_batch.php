<?php
// Builds product-state messages with the module's CatalogBatch from the product rows (as
// Catalog\ProductStates returns them, native links included) in the JSON file given as
// argument; prints the JSON list of their payloads, as the module would POST them.
declare(strict_types=1);

require dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/bootstrap.php';

$rows = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$messages = (new \Dmfrec\Recommendations\Model\CatalogBatch())->messages($rows, microtime(true));
echo json_encode(array_map(static fn ($m) => $m->payload, $messages), JSON_UNESCAPED_UNICODE), "\n";
