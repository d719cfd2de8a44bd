<?php
// Prints, as JSON, what the module's Signer and TokenMinter make of tests/magento/vectors.json.
declare(strict_types=1);

$root = dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Model/';
require $root . 'Signer.php';
require $root . 'TokenMinter.php';

$vectors = json_decode(file_get_contents(dirname(__DIR__, 2) . '/magento-module/Dmfrec/Recommendations/Test/Unit/_files/vectors.json'), true, 512, JSON_THROW_ON_ERROR);
$signer = new \Dmfrec\Recommendations\Model\Signer();
$minter = new \Dmfrec\Recommendations\Model\TokenMinter();
$out = ['signatures' => [], 'tokens' => []];
foreach ($vectors['signatures'] as $v) {
    $out['signatures'][] = $signer->sign($v['secret'], $v['msg_id'], $v['timestamp'], $v['body']);
}
foreach ($vectors['tokens'] as $v) {
    $out['tokens'][] = $minter->mint($v['secret'], $v['customer_id'], $v['expires']);
}
echo json_encode($out), "\n";
