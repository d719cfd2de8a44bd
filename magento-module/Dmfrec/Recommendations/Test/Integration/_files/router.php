<?php
// A stand-in dmfrec for `php -S`: logs each request (headers and body size) to requests.jsonl
// in $DMFREC_ROUTER_DIR and answers with the status in its `status` file (default 202).
declare(strict_types=1);

$dir = (string) getenv('DMFREC_ROUTER_DIR');
$body = (string) file_get_contents('php://input');
file_put_contents($dir . '/requests.jsonl', json_encode([
    'path' => $_SERVER['REQUEST_URI'],
    'expect' => $_SERVER['HTTP_EXPECT'] ?? null,
    'webhook_id' => $_SERVER['HTTP_WEBHOOK_ID'] ?? null,
    'webhook_timestamp' => $_SERVER['HTTP_WEBHOOK_TIMESTAMP'] ?? null,
    'webhook_signature' => $_SERVER['HTTP_WEBHOOK_SIGNATURE'] ?? null,
    'bytes' => strlen($body),
    'sha256' => hash('sha256', $body),
]) . "\n", FILE_APPEND | LOCK_EX);
$status = is_file($dir . '/status') ? (int) file_get_contents($dir . '/status') : 202;
http_response_code($status);
header('Content-Type: application/json');
echo json_encode(['status' => $status]);
